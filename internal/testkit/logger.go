package testkit

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logger returns a text logger that writes each record through tb.Log, at
// info level, or debug under go test -v. Records logged after tb ends (by
// goroutines that outlive it) are dropped, as testing forbids logging then.
// A benchmark's logger discards everything.
func Logger(tb testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return LoggerAt(tb, level)
}

// LoggerAt is Logger with a fixed level, whatever -v says.
func LoggerAt(tb testing.TB, level slog.Leveler) *slog.Logger {
	if _, ok := tb.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// tbWriter writes lines through tb until stop.
type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
