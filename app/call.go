package app

import (
	"iter"
	"slices"
	"sync"
	"sync/atomic"
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
	done   <-chan struct{} // the context's Done: nil when it never ends
	req    domain.Request
	agg    domain.Aggregator
	// aggMu guards agg's writes, which only Next makes, against Progress
	// reading it from another goroutine. Next reads agg without it.
	aggMu sync.Mutex

	mu      sync.Mutex
	pending []domain.Reply // replies delivered; pending[pos:] not yet taken by Next
	forged  int            // replies refused: they did not verify (client with a key)
	claims  []string       // the servers forged replies claimed, at most domain.MaxForgedClaims

	id [idSize]byte // the bytes of req.ID
	// The flags sit in the padding after id, and span is a pointer, not the
	// interface: a Call stays within 888 bytes, its size class of 896 with
	// the allocator's 8-byte header (see BenchmarkMemoryCall's B/op).
	waiting bool // under mu: Next found nothing and may block: Deliver signals w.ready
	mayWait bool // Next's own: take left waiting set: finish must clear it
	over    bool // Next's own: the call is over: Summary and Outcomes are final

	span *CallSpan // the call's span (ClientConfig.Tracer); nil when not traced, or once ended
	w    *waker    // what Next blocks on; read by Deliver only while waiting; nil once over

	// Next's own, without mu.
	batch   []domain.Reply // pending as Next last took it; Deliver only appends past its end
	pos     int            // batch[:pos] are observed
	batchAt time.Time      // when batch was taken
	armed   time.Time      // the instant w's timer was last set for

	// First backing of pending: a call to one server allocates no reply
	// buffer. Its result comes alone (a server acknowledges only a request
	// still running after a while, and Next has taken the ack by the time
	// the result comes).
	inline [1]domain.Reply
}

// waker is what a Next with nothing to read blocks on: ready, which Deliver
// signals and the timer too when it goes off at the next instant the call
// may end without a reply (domain.Aggregator.WakeAt). A call borrows one from
// its client for its lifetime.
type waker struct {
	ready chan struct{}
	timer *time.Timer // runs fire
	fired atomic.Bool // the timer went off since it was last set
}

func newWaker(d time.Duration) *waker {
	w := &waker{ready: make(chan struct{}, 1)}
	w.timer = time.AfterFunc(d, w.fire)
	return w
}

func (w *waker) fire() {
	w.fired.Store(true) // before the signal: Next sees it once it has the signal
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// set makes the timer go off in d.
func (w *waker) set(d time.Duration) {
	w.fired.Store(false)
	w.timer.Reset(d)
}

// Deliver implements ports.ReplySink. It never blocks. A client with a key
// (the fleet key, or servers' public keys) refuses a reply that does not
// verify (domain.Trust.VerifyReply): it is counted in the summary (Forged),
// never taken as its server's answer. Each reply is verified once, here.
func (c *Call) Deliver(r domain.Reply) {
	if t := &c.client.trust; !t.IsZero() && !t.VerifyReply(&r) {
		c.refuse(r)
		return
	}
	c.mu.Lock()
	c.pending = append(c.pending, r)
	var ready chan struct{}
	if c.waiting {
		// Only the first reply after Next found nothing wakes it: it takes
		// every reply delivered by then in one batch.
		c.waiting = false
		ready = c.w.ready
	}
	c.mu.Unlock()
	if ready != nil {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
}

// refuse counts a reply that did not verify, and the server it claimed.
func (c *Call) refuse(r domain.Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forged++
	if len(c.claims) < domain.MaxForgedClaims && !slices.Contains(c.claims, r.Server) {
		c.claims = append(c.claims, r.Server)
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
	if c.over {
		return domain.Reply{}, false
	}
	for {
		for c.pos < len(c.batch) {
			r := c.batch[c.pos]
			c.pos++
			c.aggMu.Lock()
			first := c.agg.Observe(r, c.batchAt)
			c.aggMu.Unlock()
			if first {
				return r, true
			}
		}
		if c.ended(c.batchAt) {
			c.finish(c.batchAt)
			return domain.Reply{}, false
		}
		if c.take() {
			// One clock reading stamps a whole batch: the replies in it were
			// received by the time it was taken.
			c.batchAt = c.now()
			continue
		}
		// Nothing to read: wait for a reply, the timer or the context. Without
		// an event the call can end only at WakeAt, which the timer is set
		// for: while it is, waiting needs no clock reading. (A timer that went
		// off for an earlier setting, or for the waker's previous call, only
		// costs a reading here.)
		if wake := c.agg.WakeAt(); c.w.fired.Load() || !wake.Equal(c.armed) {
			now := c.now()
			c.batchAt = now
			if c.ended(now) {
				c.finish(now)
				return domain.Reply{}, false
			}
			c.w.set(wake.Sub(now))
			c.armed = wake
		}
		if c.done == nil {
			<-c.w.ready // a plain receive is cheaper than a select
			continue
		}
		select {
		case <-c.w.ready:
		case <-c.done:
			c.finish(c.now())
			return domain.Reply{}, false
		}
	}
}

// ended reports whether the call is over at now (Aggregator.Done, which
// records its reason).
func (c *Call) ended(now time.Time) bool {
	c.aggMu.Lock()
	over := c.agg.Done(now) != domain.NotDone
	c.aggMu.Unlock()
	return over
}

// take makes the replies delivered since the last take Next's batch and
// reports whether there are any. When there are none it sets waiting, so
// that the next Deliver signals.
func (c *Call) take() bool {
	c.mu.Lock()
	p := c.pending
	switch {
	case c.pos == len(p):
		// Everything delivered was observed: later replies go to the front
		// of the same memory.
		p, c.pos = p[:0], 0
		c.pending = p
	case c.pos >= len(p)-c.pos:
		// More observed than left: move what is left to the front, so that a
		// long call kept busy does not grow pending without bound.
		n := copy(p, p[c.pos:])
		clear(p[n:])
		p, c.pos = p[:n], 0
		c.pending = p
	}
	c.batch = p
	c.waiting = c.pos == len(p)
	c.mu.Unlock()
	c.mayWait = c.pos == len(p)
	return !c.mayWait
}

// now reads the clock for the call: its start advanced by the monotonic time
// since, which reads one clock where time.Now reads two.
func (c *Call) now() time.Time { return c.req.Sent.Add(time.Since(c.req.Sent)) }

func (c *Call) finish(now time.Time) {
	c.over = true
	c.aggMu.Lock()
	c.agg.End(now)
	c.aggMu.Unlock()
	c.client.t.Forget(c.req.ID)
	c.endSpan()
	w := c.w
	if c.mayWait {
		c.mu.Lock()
		c.waiting = false
		c.mu.Unlock()
	}
	c.w = nil
	c.client.putWaker(w)
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
	if !c.over {
		c.finish(c.now())
	}
}

// Summary returns the call's summary; final once Next returned false. Each
// call makes a new one.
func (c *Call) Summary() domain.Summary {
	if !c.over {
		return domain.Summary{}
	}
	s := c.agg.Summary()
	c.mu.Lock()
	s.Forged, s.ForgedClaims = c.forged, slices.Sorted(slices.Values(c.claims))
	c.mu.Unlock()
	if s.Forged > 0 {
		c.client.log.Warn("refused forged replies", "call", c.req.ID, "count", s.Forged, "claiming", s.ForgedClaims)
	}
	return s
}

// Progress appends to dst a copy of every server's record as it stands now
// and returns it: the expected servers and those heard from, each one still
// pending with whether, and since when (Outcome.AckedAt), it acknowledged.
// Unlike Outcomes it is safe to call from any goroutine while another one
// reads the call with Next: it is what a live view redrawing itself while
// the call runs reads. It allocates only when dst is too small; pass the
// previous slice[:0] to reuse it.
func (c *Call) Progress(dst []domain.Outcome) []domain.Outcome {
	c.aggMu.Lock()
	defer c.aggMu.Unlock()
	return append(dst, c.agg.Outcomes()...)
}

// Outcomes returns every server's record, sorted by name once the call is
// over. Do not modify the slice.
func (c *Call) Outcomes() []domain.Outcome { return c.agg.Outcomes() }
