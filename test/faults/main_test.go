// Package faults_test holds the fault tests: servers and clients on RabbitMQ
// while the broker crashes and comes back. They kill the broker, so they
// never use the one the environment names (TOPICRPC_TEST_AMQP_URL, maybe
// shared): TestMain boots a private node of the installed rabbitmq-server
// that this process owns (brokertest.StartNode), and kills it at the end.
package faults_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// The node TestMain booted, or why there is none. Package state because
// TestMain has no other way to hand a value to the tests.
var (
	node   *brokertest.Node
	noNode string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		noNode = "-short: the fault tests need a RabbitMQ node of their own"
		os.Exit(m.Run())
	}
	// Booting takes 5 s on an idle machine, up to 25 s on 2 busy cores.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	n, err := brokertest.StartNode(ctx)
	cancel()
	switch {
	case err == nil:
		node = n
	case errors.Is(err, brokertest.ErrNoBroker) && !testkit.BrokerRequired():
		noNode = err.Error()
	default:
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		if errors.Is(err, brokertest.ErrNoBroker) {
			fmt.Fprintf(os.Stderr, "faults: failing because %s=1\n", brokertest.EnvRequire)
		}
		os.Exit(1)
	}
	code := m.Run()
	if node != nil {
		node.Stop()
	}
	os.Exit(code)
}

// requireNode returns the private node. Without one it skips the test under
// -short, and otherwise ends it through testkit.NoBroker.
func requireNode(t *testing.T) *brokertest.Node {
	t.Helper()
	switch {
	case node != nil:
	case testing.Short():
		t.Skip(noNode)
	default:
		testkit.NoBroker(t, noNode)
	}
	return node
}
