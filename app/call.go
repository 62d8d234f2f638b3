package app

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// Call is one call in progress. Its replies are read with Next or Replies by
// one goroutine; the transport delivers into it concurrently.
//
// Backpressure: replies wait in the call's memory until read, so servers never
// wait for a slow reader; their number is bounded by the servers that answer.
type Call struct {
	client *Client
	ctx    context.Context
	req    domain.Request
	agg    domain.Aggregator
	ready  chan struct{} // signalled when pending gets a reply

	mu      sync.Mutex
	pending []domain.Reply
	inline  [2][2]domain.Reply // first backings of pending and batch: a call to one server (ack, result) allocates none

	batch   []domain.Reply // replies taken from pending, being observed
	batchAt time.Time      // when batch was taken
	pos     int
	timer   *time.Timer
	summary domain.Summary
	done    bool
}

// Deliver implements ports.ReplySink. It never blocks.
func (c *Call) Deliver(r domain.Reply) {
	c.mu.Lock()
	c.pending = append(c.pending, r)
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// ID returns the call's correlation id.
func (c *Call) ID() string { return c.req.ID }

// Deadline returns the call's deadline.
func (c *Call) Deadline() time.Time { return c.req.Deadline }

// Next blocks until the next server's result arrives and returns it, or
// returns false when the call is over: every expected server answered, the
// deadline passed, the idle gap passed (when the expected servers are
// unknown), or the call's context ended. Acks and progress replies are
// recorded, not returned. After false, Summary and Outcomes are final.
func (c *Call) Next() (domain.Reply, bool) {
	if c.done {
		return domain.Reply{}, false
	}
	for {
		for c.pos < len(c.batch) {
			r := c.batch[c.pos]
			c.pos++
			if c.agg.Observe(r, c.batchAt) {
				return r, true
			}
		}
		if c.agg.Done(c.batchAt) != domain.NotDone {
			c.finish(c.batchAt)
			return domain.Reply{}, false
		}
		c.mu.Lock()
		c.batch, c.pending = c.pending, c.batch[:0]
		c.mu.Unlock()
		c.pos = 0
		// One clock reading stamps a whole batch: the replies in it were
		// received by the time it was taken.
		c.batchAt = c.client.now()
		if len(c.batch) > 0 {
			continue
		}
		if c.agg.Done(c.batchAt) != domain.NotDone {
			c.finish(c.batchAt)
			return domain.Reply{}, false
		}
		wait := c.agg.WakeAt().Sub(c.batchAt)
		if c.timer == nil {
			c.timer = c.client.timer(wait)
		} else {
			c.timer.Reset(wait)
		}
		select {
		case <-c.ready:
		case <-c.timer.C:
		case <-c.ctx.Done():
			c.finish(c.client.now())
			return domain.Reply{}, false
		}
	}
}

func (c *Call) finish(now time.Time) {
	c.done = true
	c.summary = c.agg.Finish(now)
	c.client.t.Forget(c.req.ID)
	if c.timer != nil {
		c.client.putTimer(c.timer)
		c.timer = nil
	}
}

// Replies returns an iterator over the results as they arrive; see Next.
func (c *Call) Replies() iter.Seq[domain.Reply] {
	return func(yield func(domain.Reply) bool) {
		for r, ok := c.Next(); ok; r, ok = c.Next() {
			if !yield(r) {
				return
			}
		}
	}
}

// Close ends the call early if it is still open: the summary's reason is
// cancelled and servers without a result are not received or timed out.
func (c *Call) Close() {
	if !c.done {
		c.finish(c.client.now())
	}
}

// Summary returns the call's summary; final once Next returned false.
func (c *Call) Summary() domain.Summary { return c.summary }

// Outcomes returns every server's record, sorted by name once the call is
// over. Do not modify the slice.
func (c *Call) Outcomes() []domain.Outcome { return c.agg.Outcomes() }
