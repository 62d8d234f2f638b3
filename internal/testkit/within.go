package testkit

import (
	"testing"
	"time"
)

// Within receives from ch, waiting up to d, and fails the test if nothing
// comes (what names what was awaited).
func Within[T any](tb testing.TB, ch <-chan T, d time.Duration, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		tb.Fatalf("%s: nothing within %v", what, d)
		var zero T
		return zero
	}
}
