package integration_test

import (
	"testing"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/ports"
	"github.com/topicrpc/topicrpc/test/conformance"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// TestAMQPTransport runs the conformance suite on RabbitMQ, with the
// management API telling who a key reaches.
func TestAMQPTransport(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	if b.ManagementURL == "" {
		t.Fatal("the broker has no management API; brokertest starts it with one")
	}
	conformance.Run(t, func(t *testing.T) ports.Transport {
		ns := namespace(t, b)
		return ns.Transport(t, ns.WithManagement)
	}, conformance.Features{Routes: true, StrictRoundRobin: true, Register: true, Jobs: true})
}

// TestAMQPTransportWithoutManagement runs it without: Routes is unknown, and
// the fleet register alone tells who should answer.
func TestAMQPTransportWithoutManagement(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	conformance.Run(t, func(t *testing.T) ports.Transport {
		return namespace(t, b).Transport(t)
	}, conformance.Features{Routes: false, StrictRoundRobin: true, Register: true, Jobs: true})
}

// TestAMQPTransportReplicatedQueues runs it with the queue types of a
// cluster (transient server queues, quorum work queues and register), on
// the one broker: what the pipeline relies on (per-message TTL, prefetch,
// redelivery, the register's lock) holds on them too.
func TestAMQPTransportReplicatedQueues(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	conformance.Run(t, func(t *testing.T) ports.Transport {
		ns := namespace(t, b)
		return ns.Transport(t, ns.WithManagement, func(c *amqp.Config) { c.QueueTypes = amqp.QueuesReplicated })
	}, conformance.Features{Routes: true, StrictRoundRobin: true, Register: true, Jobs: true})
}
