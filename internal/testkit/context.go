package testkit

import (
	"context"
	"testing"
	"time"
)

// Context returns a context that ends after d; its resources are released
// when tb ends. It does not derive from tb.Context, so cleanup functions may
// use it too (tb.Context is cancelled before they run).
func Context(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
