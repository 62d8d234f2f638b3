package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHandlerContextDeadline(t *testing.T) {
	t.Parallel()
	ctx := newHandlerContext(context.Background(), time.Now().Add(30*time.Millisecond))
	defer ctx.release()
	if ctx.Err() != nil {
		t.Fatal("ended early")
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("Err %v Cause %v", ctx.Err(), context.Cause(ctx))
	}
}

func TestHandlerContextParentCancel(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	ctx := newHandlerContext(parent, time.Now().Add(time.Hour))
	defer ctx.release()
	if ctx.Value(ctxKey{}) != "v" {
		t.Fatal("values not inherited")
	}
	done := ctx.Done()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	cancel()
	for _, ch := range []<-chan struct{}{done, child.Done()} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("parent's cancel did not propagate")
		}
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err %v", ctx.Err())
	}
}

func TestHandlerContextErrWithoutDone(t *testing.T) {
	t.Parallel()
	ctx := newHandlerContext(context.Background(), time.Now().Add(-time.Second))
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("a past deadline is not reported by Err")
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done of an ended context is open")
	}
	d, ok := ctx.Deadline()
	if !ok || time.Until(d) > 0 {
		t.Fatal("deadline")
	}
}

type ctxKey struct{}
