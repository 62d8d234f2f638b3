package testkit

import (
	"log/slog"
	"testing"

	"github.com/topicrpc/topicrpc/adapters/memory"
)

// MemoryTransport returns an in-memory transport that logs nothing, closed
// when tb ends.
func MemoryTransport(tb testing.TB) *memory.Transport {
	tr := memory.New(memory.Config{Logger: slog.New(slog.DiscardHandler)})
	tb.Cleanup(func() { _ = tr.Close() })
	return tr
}
