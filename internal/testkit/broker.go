package testkit

import (
	"os"
	"strings"
	"testing"
)

// Environment variables naming the test broker.
const (
	// EnvAMQPURL names a running RabbitMQ for tests (scripts/with-broker.sh
	// and `make test` set it), credentials included.
	EnvAMQPURL = "TOPICRPC_TEST_AMQP_URL"
	// EnvManagementURL is the management HTTP API of the broker in
	// EnvAMQPURL, credentials included as userinfo.
	EnvManagementURL = "TOPICRPC_TEST_MANAGEMENT_URL"
	// EnvRequireBroker set to 1 turns "no broker" from a skip into a
	// failure; CI sets it.
	EnvRequireBroker = "TOPICRPC_REQUIRE_BROKER"
)

// Broker is the RabbitMQ a test runs against.
type Broker struct {
	// URL is the AMQP 0-9-1 URL, credentials included.
	URL string
	// ManagementURL is the base URL of the management HTTP API, credentials
	// included as userinfo; "" when unknown.
	ManagementURL string
}

// BrokerRequired reports whether TOPICRPC_REQUIRE_BROKER=1: tests that find
// no broker must then fail rather than skip.
func BrokerRequired() bool { return os.Getenv(EnvRequireBroker) == "1" }

// NoBroker ends a test that cannot run for want of a broker (or of a part of
// one, such as its management API): it fails the test when BrokerRequired,
// and skips it otherwise, with reason (which should say what is missing)
// as one line either way. Every test
// that needs a RabbitMQ and has none ends here, so that CI, which requires
// one, never passes by skipping it.
func NoBroker(tb testing.TB, reason string) {
	tb.Helper()
	reason = strings.Join(strings.Fields(reason), " ")
	if BrokerRequired() {
		tb.Fatalf("%s (failing because %s=1)", reason, EnvRequireBroker)
	}
	tb.Skip(reason)
}

// EnvBroker returns the broker the environment names (EnvAMQPURL and
// EnvManagementURL), or ends the test through NoBroker when EnvAMQPURL is
// not set. It does not dial: a broker that is named but down fails the
// test where it is first used.
func EnvBroker(tb testing.TB) Broker {
	tb.Helper()
	u := os.Getenv(EnvAMQPURL)
	if u == "" {
		NoBroker(tb, "no broker: "+EnvAMQPURL+" is not set; run the tests under scripts/with-broker.sh (make test does)")
	}
	return Broker{URL: u, ManagementURL: os.Getenv(EnvManagementURL)}
}

// Management returns b's management API, or ends the test through NoBroker
// when b has none.
func (b Broker) Management(tb testing.TB) string {
	tb.Helper()
	if b.ManagementURL == "" {
		NoBroker(tb, "no management API: "+EnvManagementURL+" is not set; run the tests under scripts/with-broker.sh (make test does)")
	}
	return b.ManagementURL
}
