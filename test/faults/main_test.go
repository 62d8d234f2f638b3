// Package faults_test holds the fault tests: servers and clients on RabbitMQ
// while the broker crashes and comes back. They kill the broker, so they
// never use the one the environment names (TOPICRPC_TEST_AMQP_URL, maybe
// shared): TestMain boots a private node of the installed rabbitmq-server
// that this process owns (brokertest.StartNode), and kills it at the end.
package faults_test

import (
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// node is the node TestMain booted, or why there is none. Package state
// because TestMain has no other way to hand a value to the tests.
var node *brokertest.Own[*brokertest.Node]

func TestMain(m *testing.M) {
	os.Exit(brokertest.RunOwn(m, &node, "faults", "a RabbitMQ node", 3*time.Minute, brokertest.StartNode))
}

// requireNode returns the private node, or ends the test (Own.Require).
func requireNode(t *testing.T) *brokertest.Node {
	t.Helper()
	return node.Require(t)
}
