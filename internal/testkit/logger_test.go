package testkit_test

import (
	"log/slog"
	"testing"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// A logger outliving its test drops records instead of logging after the
// test ended (which testing reports as a panic).
func TestLoggerAfterTheTest(t *testing.T) {
	t.Parallel()
	var log *slog.Logger
	t.Run("sub", func(t *testing.T) {
		log = testkit.LoggerAt(t, slog.LevelInfo)
		log.Info("during the test")
	})
	log.Info("after the test")
}

func TestLoggerInBenchmarksDiscards(t *testing.T) {
	t.Parallel()
	r := testing.Benchmark(func(b *testing.B) {
		if testkit.Logger(b).Handler().Enabled(b.Context(), slog.LevelError) {
			b.Error("a benchmark's logger is enabled")
		}
	})
	if r.N == 0 {
		t.Fatal("the benchmark did not run")
	}
}
