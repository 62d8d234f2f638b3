package conformance_test

import (
	"testing"

	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
	"github.com/topicrpc/topicrpc/test/conformance"
)

func TestMemoryTransport(t *testing.T) {
	t.Parallel()
	conformance.Run(t, func(t *testing.T) ports.Transport {
		return testkit.MemoryTransport(t)
	}, conformance.Features{Routes: true, StrictRoundRobin: true, Register: true, Jobs: true})
}
