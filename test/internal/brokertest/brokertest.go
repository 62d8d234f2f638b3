// Package brokertest finds or starts a real RabbitMQ for integration tests.
//
// Integration test packages call Main from TestMain and Get from each test:
//
//	func TestMain(m *testing.M) { brokertest.Main(m) }
//
//	func TestRoundTrip(t *testing.T) {
//		b := brokertest.Get(t) // skips, or fails under TOPICRPC_REQUIRE_BROKER=1, when there is no broker
//		conn, err := amqp.Dial(b.URL)
//		...
//	}
//
// Start looks for a broker in this order:
//
//  1. TOPICRPC_TEST_AMQP_URL (and TOPICRPC_TEST_MANAGEMENT_URL), as set by
//     scripts/with-broker.sh or `eval "$(scripts/broker.sh start)"`;
//  2. a throwaway private node of an installed rabbitmq-server, run by
//     scripts/broker.sh on 127.0.0.1 with free ports and a temporary directory;
//  3. a RabbitMQ container (image ContainerImage) through testcontainers-go,
//     when a Docker engine answers.
//
// Tests sharing one broker must not collide: they should use their own
// exchange, queue and topic names.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Environment variables read by this package (see internal/testkit).
const (
	// EnvAMQPURL names a running broker to use instead of starting one.
	EnvAMQPURL = testkit.EnvAMQPURL
	// EnvManagementURL is the management HTTP API of the broker in EnvAMQPURL.
	EnvManagementURL = testkit.EnvManagementURL
	// EnvRequire set to 1 turns "no broker" from a skip into a failure (CI sets it).
	EnvRequire = testkit.EnvRequireBroker
)

// Where a Broker came from (Broker.Source).
const (
	SourceEnv            = "env"
	SourceLocal          = "local"
	SourceTestcontainers = "testcontainers"
)

// ErrNoBroker means no broker is configured or startable on this machine.
var ErrNoBroker = errors.New("no RabbitMQ for integration tests: set " + EnvAMQPURL +
	", install rabbitmq-server (apt-get install -y rabbitmq-server) or run a Docker engine")

// Broker is a running RabbitMQ for tests.
type Broker struct {
	// URL is the AMQP 0-9-1 URL, credentials included.
	URL string
	// ManagementURL is the base URL of the management HTTP API, credentials
	// included as userinfo (net/http sends them as basic auth); "" if unknown.
	ManagementURL string
	// Source says where the broker came from: SourceEnv, SourceLocal or
	// SourceTestcontainers.
	Source string
	// TLSURL is the amqps:// URL of the broker's TLS listener, credentials
	// included; "" without one (see StartLocal).
	TLSURL string
}

// Kit returns the broker's URLs as internal/testkit and internal/amqptest
// take them.
func (b *Broker) Kit() testkit.Broker {
	return testkit.Broker{URL: b.URL, ManagementURL: b.ManagementURL}
}

// Start finds or starts a broker (see the package documentation for the order)
// and returns it with a function that stops it; the stop function is idempotent
// and does nothing for a broker named by the environment. ctx bounds the start.
//
// Start returns an error wrapping ErrNoBroker when no source is available, and
// another error when a source is available but fails: a broker named by
// TOPICRPC_TEST_AMQP_URL that does not answer, or an installed rabbitmq-server
// that does not boot.
func Start(ctx context.Context) (*Broker, func(), error) {
	if u := os.Getenv(EnvAMQPURL); u != "" {
		b := &Broker{URL: u, ManagementURL: os.Getenv(EnvManagementURL), Source: SourceEnv}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := WaitAMQP(wctx, u); err != nil {
			return nil, nil, fmt.Errorf("%s is set but the broker does not answer: %w", EnvAMQPURL, err)
		}
		return b, func() {}, nil
	}

	var failures []string
	for _, s := range []struct {
		name  string
		start func(context.Context) (*Broker, func(), error)
	}{
		{"local rabbitmq-server", startLocal},
		{"testcontainers", startContainer},
	} {
		b, stop, err := s.start(ctx)
		if err == nil {
			return b, stop, nil
		}
		if !errors.Is(err, errUnavailable) {
			failures = append(failures, s.name+": "+err.Error())
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(failures) > 0 {
		return nil, nil, fmt.Errorf("could not start a broker:\n%s", strings.Join(failures, "\n"))
	}
	return nil, nil, ErrNoBroker
}

// errUnavailable marks a source that does not exist on this machine (as opposed
// to one that exists but fails).
var errUnavailable = errors.New("unavailable")

// redact hides the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
