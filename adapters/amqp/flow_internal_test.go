package amqp

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFlowGate(t *testing.T) {
	t.Parallel()
	var g flowGate
	down := make(chan struct{})
	errDown := errors.New("down")
	downErr := func() error { return errDown }
	ctx := context.Background()
	if err := g.wait(ctx, down, downErr); err != nil {
		t.Fatalf("open gate: %v", err)
	}

	g.set(true)
	g.set(true) // repeated: still one block
	waited := make(chan error, 1)
	go func() { waited <- g.wait(ctx, down, downErr) }()
	select {
	case err := <-waited:
		t.Fatalf("blocked gate let a Send through: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.set(false)
	if err := <-waited; err != nil {
		t.Fatalf("unblocked gate: %v", err)
	}

	g.set(true)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.wait(short, down, downErr); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with ctx ending = %v", err)
	}
	close(down)
	if err := g.wait(ctx, down, downErr); err != errDown {
		t.Errorf("wait when down = %v", err)
	}
}
