package amqp

import (
	"context"
	"sync/atomic"
)

// flowGate holds Sends back while the broker blocks publishers
// (connection.blocked: a memory or disk alarm). Publishing then would fill
// socket buffers and block where no context can end the wait.
type flowGate struct {
	// blocked is nil while publishing may go ahead, else a channel closed
	// when the block ends. Only the connection watcher changes it.
	blocked atomic.Pointer[chan struct{}]
}

// set records whether the broker blocks publishers. Only one goroutine may
// call it.
func (g *flowGate) set(blocked bool) {
	if !blocked {
		if ch := g.blocked.Swap(nil); ch != nil {
			close(*ch)
		}
		return
	}
	if g.blocked.Load() == nil {
		ch := make(chan struct{})
		g.blocked.Store(&ch)
	}
}

// wait returns nil when publishing may go ahead, or why it may not: ctx's
// error, or downErr() once down is closed.
func (g *flowGate) wait(ctx context.Context, down <-chan struct{}, downErr func() error) error {
	ch := g.blocked.Load()
	if ch == nil {
		return nil
	}
	select {
	case <-*ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-down:
		return downErr()
	}
}
