package conformance_test

import (
	"log/slog"
	"testing"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/ports"
	"github.com/topicrpc/topicrpc/test/conformance"
)

func TestMemoryTransport(t *testing.T) {
	t.Parallel()
	conformance.Run(t, func(t *testing.T) ports.Transport {
		tr := memory.New(memory.Config{Logger: slog.New(slog.DiscardHandler)})
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	}, conformance.Features{Routes: true, StrictRoundRobin: true, Register: true})
}
