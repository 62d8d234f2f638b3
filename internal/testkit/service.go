package testkit

import (
	"context"
	"testing"
	"time"
)

// Service is what a test starts and stops: an app.Server or app.Fleet.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// startTimeout bounds a Service's Start.
const startTimeout = 30 * time.Second

// Start starts s within 30 s, failing the test if it cannot, and stops it
// when tb ends. Stop gets grace to let handlers in flight finish, after
// which their contexts are cancelled; with grace 0 it waits for them as
// long as they take.
func Start(tb testing.TB, s Service, grace time.Duration) {
	tb.Helper()
	if err := s.Start(Context(tb, startTimeout)); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		if grace > 0 {
			ctx = Context(tb, grace)
		}
		_ = s.Stop(ctx)
	})
}
