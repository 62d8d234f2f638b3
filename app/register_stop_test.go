package app_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// stuckRegister is a transport whose register writes, after the first,
// wait until their ctx ends: a broker that went away mid-refresh.
type stuckRegister struct {
	*memory.Transport
	writes atomic.Int32
}

func (s *stuckRegister) UpdateRegister(ctx context.Context, fn func(*domain.Register) error) error {
	if s.writes.Add(1) == 1 {
		return s.Transport.UpdateRegister(ctx, fn)
	}
	<-ctx.Done()
	return ctx.Err()
}

// Stop does not wait for a register refresh stuck on an unreachable broker:
// it ends within its own ctx.
func TestStopEndsAStuckRegisterRefresh(t *testing.T) {
	t.Parallel()
	tr := &stuckRegister{Transport: newMemory(t)}
	srv := app.NewServer(tr, app.ServerConfig{Name: "q1", RegisterRefresh: time.Hour}, quiet)
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The first check of the entry comes 2 s after the start: let it begin.
	deadline := time.Now().Add(10 * time.Second)
	for tr.writes.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if tr.writes.Load() < 2 {
		t.Fatal("no refresh began within 10 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(ctx) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop waited for the stuck refresh (an hour's ctx) past its own 500 ms")
	}
}

// A server stopped while the broker does not answer spends at most
// GoodbyeTimeout on its register goodbye, not its whole stop budget, and
// stops cleanly (in a synctest bubble: the clock is the bubble's).
func TestStopBoundsAStuckGoodbye(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &stuckRegister{Transport: newMemory(t)}
		srv := app.NewServer(tr, app.ServerConfig{Name: "q1", RegisterRefresh: time.Hour}, quiet)
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		if err := srv.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v (the goodbye took the stop budget)", err)
		}
		if took := time.Since(start); took > app.GoodbyeTimeout {
			t.Fatalf("Stop took %s with the register goodbye stuck; want at most GoodbyeTimeout (%s)", took, app.GoodbyeTimeout)
		}
		if tr.writes.Load() != 2 {
			t.Fatalf("%d register writes, want the join and the goodbye", tr.writes.Load())
		}
	})
}
