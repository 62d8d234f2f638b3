package integration_test

import (
	"testing"

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
