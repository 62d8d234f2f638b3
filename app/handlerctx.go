package app

import (
	"context"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// withDeadline is the pipeline step that gives the steps after it, and the
// handler, a context that also ends at the request's deadline.
func withDeadline(next Step) Step {
	return func(ctx context.Context, in Inbound) domain.Reply {
		if in.Request.Deadline.IsZero() {
			return next(ctx, in)
		}
		hctx := newHandlerContext(ctx, in.Request.Deadline)
		defer hctx.release()
		return next(hctx, in)
	}
}

// handlerContext is the context a handler runs with: its parent's values and
// cancellation, ended also at the request's deadline. It behaves as
// context.WithDeadline(parent, deadline), but makes its Done channel and the
// timers behind it only when a handler first asks for Done: handlers that never
// block (echo, fib, most lookups) cost one allocation instead of four and no
// timer. Safe for concurrent use, as every Context is.
type handlerContext struct {
	parent   context.Context
	deadline time.Time

	mu         sync.Mutex
	done       chan struct{} // made on first Done
	err        error
	stopTimer  func() bool
	stopParent func() bool
}

var _ context.Context = (*handlerContext)(nil)

func newHandlerContext(parent context.Context, deadline time.Time) *handlerContext {
	if pd, ok := parent.Deadline(); ok && pd.Before(deadline) {
		deadline = pd
	}
	return &handlerContext{parent: parent, deadline: deadline}
}

func (c *handlerContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *handlerContext) Value(key any) any { return c.parent.Value(key) }

func (c *handlerContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil || c.checkLocked() {
		close(c.done)
		return c.done
	}
	c.stopTimer = time.AfterFunc(time.Until(c.deadline), func() { c.end(context.DeadlineExceeded) }).Stop
	c.stopParent = context.AfterFunc(c.parent, func() { c.end(c.parent.Err()) })
	return c.done
}

func (c *handlerContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.checkLocked() && c.done != nil {
		close(c.done)
		c.stopLocked()
	}
	return c.err
}

// checkLocked sets err if the parent ended or the deadline passed, and
// reports whether err is set now. Call with mu held.
func (c *handlerContext) checkLocked() bool {
	if c.err == nil {
		if err := c.parent.Err(); err != nil {
			c.err = err
		} else if !time.Now().Before(c.deadline) {
			c.err = context.DeadlineExceeded
		}
	}
	return c.err != nil
}

// end records err (first one wins) and closes Done.
func (c *handlerContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done) // end is only called by the timers Done started
	c.stopLocked()
}

// release stops the timers, if any; the handler has returned.
func (c *handlerContext) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
}

func (c *handlerContext) stopLocked() {
	if c.stopTimer != nil {
		c.stopTimer()
		c.stopParent()
		c.stopTimer, c.stopParent = nil, nil
	}
}
