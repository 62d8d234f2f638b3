package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Work queues carry balanced requests (domain.Request.Balanced) to the
// servers of a group (ports.Endpoint.WorkGroups). Each is an ordinary queue
// (queue.go), kept in Transport.work by group name, apart from the topic
// index: nothing is bound to it, a balanced request names it exactly, and
// Routes never reports it. Its consumers have prefetch 1, so the queue's
// credit-based round-robin is fair dispatch: a request goes to a consumer
// that is idle, never behind a busy one.

// declareWork returns the work queue of group, creating it on first use. It
// is kept after its consumers leave, like a durable RabbitMQ queue. Call with
// t.mu held.
func (t *Transport) declareWork(group string) (*queue, error) {
	if t.closed {
		return nil, ports.ErrClosed
	}
	if t.work == nil {
		t.work = make(map[string]*queue)
	}
	q := t.work[group]
	if q == nil {
		q = newQueue(group, t.cfg.QueueLength)
		t.work[group] = q
	}
	return q, nil
}

// sendBalanced puts m in the work queue of the group m.req.Target; its sink
// is already registered. It never blocks.
func (t *Transport) sendBalanced(m *message) error {
	req := &m.req
	t.mu.RLock()
	closed, q := t.closed, t.work[req.Target]
	t.mu.RUnlock()
	switch {
	case closed:
		return fmt.Errorf("send %s: %w", req.Target, ports.ErrClosed)
	case q == nil:
		return fmt.Errorf("send %s: %w (no work queue for group %s)", req.Target, ports.ErrNoRoute, req.Target)
	}
	if !q.publish(m, m.expired()) {
		t.log.Warn("balanced request refused by a full work queue", "group", req.Target, "call", req.ID)
		return fmt.Errorf("send %s: work queue %s: %w (%d requests waiting)", req.Target, q.name, ports.ErrQueueFull, q.limit)
	}
	return nil
}

// worker is a subscription's consumer of one work queue: prefetch 1, one
// goroutine. When the subscription's Close gives up waiting for it, the
// request it is running goes back to the head of the queue for another
// consumer, as RabbitMQ requeues the unacknowledged messages of a closed
// channel, and the handler's later replies are refused, so that the caller
// hears only from the consumer that runs it again.
type worker struct {
	q      *queue
	c      *consumer
	claims *claimTable // the Transport's

	mu      sync.RWMutex // held for reading while a reply is delivered
	running *message     // the request being handled; nil when idle or given back
	gaveUp  bool         // Close stopped waiting: requests go back, replies are refused
}

func newWorker(q *queue, claims *claimTable) *worker {
	return &worker{q: q, c: &consumer{ch: make(chan *message, 1), credit: 1}, claims: claims}
}

// run handles the requests delivered to w until the queue detaches it.
func (w *worker) run(ctx context.Context, h ports.Handler, wg *sync.WaitGroup) {
	defer wg.Done()
	// Requests expired before they reached w were dropped by the queue (see
	// queue.publish and feed).
	for m := range w.c.ch {
		w.mu.Lock()
		if w.gaveUp {
			// Taken just before Close gave up, not started: give it back.
			w.mu.Unlock()
			w.giveBack(m)
			continue
		}
		w.running = m
		w.mu.Unlock()
		h(ctx, &m.req, workReply{w: w, m: m})
		w.mu.Lock()
		w.running = nil
		w.mu.Unlock()
		w.q.settle(w.c)
	}
}

// giveUp is called by Close when ctx ends with the handler still running: the
// request goes back to the queue (and on to an idle consumer) and the
// handler's replies are refused from now on.
func (w *worker) giveUp() {
	w.mu.Lock()
	w.gaveUp = true
	m := w.running
	w.running = nil
	w.mu.Unlock()
	if m != nil {
		w.giveBack(m)
	}
}

// giveBack puts m back at the head of the work queue, releasing its claim
// (claims.go) so that the consumer that runs it again can take it.
func (w *worker) giveBack(m *message) {
	w.claims.release(m.req.ID, m)
	w.q.mu.Lock()
	defer w.q.mu.Unlock()
	w.q.requeue(m)
}

// workReply is the ReplyWriter of one request taken from a work queue.
type workReply struct {
	w *worker
	m *message
}

var _ ports.Claimer = workReply{}

// Reply implements ports.ReplyWriter; it fails once the request was given
// back to the queue.
func (r workReply) Reply(ctx context.Context, rep domain.Reply) error {
	r.w.mu.RLock()
	defer r.w.mu.RUnlock()
	if r.w.gaveUp {
		return fmt.Errorf("reply to %s: the request went back to work queue %s when the subscription closed", r.m.req.ID, r.w.q.name)
	}
	return r.m.Reply(ctx, rep)
}
