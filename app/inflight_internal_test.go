package app

import (
	"context"
	"testing"
	"time"
)

// TestInflight: wait returns at once with nothing in flight, blocks while
// something is, ends with its context, and allows work to start while it
// waits.
func TestInflight(t *testing.T) {
	t.Parallel()
	var f inflight
	if err := f.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.add()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.wait(ctx); err == nil {
		t.Fatal("wait returned with work in flight")
	}
	waited := make(chan error, 1)
	go func() { waited <- f.wait(context.Background()) }()
	f.add() // more work while someone waits: allowed
	f.done()
	f.done()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return once nothing was in flight")
	}
}
