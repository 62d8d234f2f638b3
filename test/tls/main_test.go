// Package tls_test runs topicrpcd and topicrpc over amqps:// against a
// private RabbitMQ node of its own, started with a TLS listener that
// requires client certificates (scripts/broker.sh with
// TOPICRPC_BROKER_TLS_PORT and TOPICRPC_BROKER_EXTRA_CONF). The certificates
// are made up by the tests. The shared broker of test/integration cannot
// serve here: it has no TLS listener.
//
// Without an installed rabbitmq-server, or with -short, the tests skip; a
// missing rabbitmq-server fails them when TOPICRPC_REQUIRE_BROKER=1 (as in
// CI).
package tls_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/bintest"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// env is what TestMain prepared: set once before m.Run, read by the tests.
// It is package-level because TestMain has no other way to hand values to
// the tests of its package.
var env struct {
	bins   *bintest.Programs
	pki    *pki
	broker *brokertest.Broker
	reason string // why there is no broker, when broker is nil
}

func TestMain(m *testing.M) { os.Exit(setUp(m)) }

func setUp(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		env.reason = "-short: the TLS tests need a RabbitMQ node of their own"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "topicrpc-tls-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	var remove func()
	if env.bins, remove, err = bintest.Build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	if env.pki, err = writePKI(dir); err != nil {
		fmt.Fprintln(os.Stderr, "make certificates:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	b, stop, err := brokertest.StartLocal(ctx,
		"TOPICRPC_BROKER_TLS_PORT=free",
		"TOPICRPC_BROKER_EXTRA_CONF="+strings.Join([]string{
			"ssl_options.cacertfile = " + env.pki.ca,
			"ssl_options.certfile = " + env.pki.serverCert,
			"ssl_options.keyfile = " + env.pki.serverKey,
			"ssl_options.verify = verify_peer",
			"ssl_options.fail_if_no_peer_cert = true",
		}, "\n"))
	cancel()
	switch {
	case err == nil:
		defer stop()
		if b.TLSURL == "" {
			fmt.Fprintln(os.Stderr, "the private node came up without a TLS listener")
			return 1
		}
		env.broker = b
	case errors.Is(err, brokertest.ErrNoBroker) && !testkit.BrokerRequired():
		env.reason = err.Error()
	default:
		fmt.Fprintln(os.Stderr, "start a RabbitMQ node with TLS:", err)
		return 1
	}
	return m.Run()
}

// broker returns the TLS node. Without one it skips the test under -short,
// and otherwise ends it through testkit.NoBroker.
func broker(t *testing.T) *brokertest.Broker {
	t.Helper()
	switch {
	case env.broker != nil:
	case testing.Short():
		t.Skip(env.reason)
	default:
		testkit.NoBroker(t, env.reason)
	}
	return env.broker
}
