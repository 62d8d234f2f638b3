package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/topicrpc/topicrpc/ports"
)

// Serve implements ports.Transport. The queue is created on first use and kept
// after the subscription closes, with its bindings, like a durable RabbitMQ
// queue. The subscription is a consumer with prefetch ep.Concurrency, plus
// one consumer with prefetch 1 of the work queue of each of ep.WorkGroups
// (created on first use and kept too), each with a goroutine of its own: h
// runs at most ep.Concurrency + len(ep.WorkGroups) times at once.
func (t *Transport) Serve(ctx context.Context, ep ports.Endpoint, h ports.Handler) (ports.Subscription, error) {
	name := ep.QueueName()
	if err := ep.Validate(); err != nil {
		return nil, fmt.Errorf("serve %s: %w", name, err)
	}
	n := max(ep.Concurrency, 1)
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{
		t:      t,
		c:      &consumer{ch: make(chan *message, n), credit: n},
		cancel: cancel,
	}
	t.mu.Lock()
	q, err := t.declare(name, ep.Bindings)
	if err != nil {
		t.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("serve %s: %w", name, err)
	}
	s.q = q
	for _, g := range ep.WorkGroups {
		wq, err := t.declareWork(g)
		if err != nil {
			t.mu.Unlock()
			cancel()
			return nil, fmt.Errorf("serve %s: work group %s: %w", name, g, err)
		}
		s.workers = append(s.workers, newWorker(wq, &t.claims))
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	s.wg.Add(n + len(s.workers))
	for range n {
		go s.work(subCtx, h)
	}
	for _, w := range s.workers {
		go w.run(subCtx, h, &s.wg)
	}
	q.attach(s.c)
	for _, w := range s.workers {
		w.q.attach(w.c)
	}
	return s, nil
}

// declare creates the queue if needed and binds it with every pattern it does
// not have yet; binding twice is a no-op, as in RabbitMQ. Call with t.mu held.
func (t *Transport) declare(name string, bindings []string) (*queue, error) {
	if t.closed {
		return nil, ports.ErrClosed
	}
	q := t.queues[name]
	if q == nil {
		q = newQueue(name, t.cfg.QueueLength)
		t.queues[name] = q
	}
	for _, b := range bindings {
		if _, ok := q.bindings[b]; ok {
			continue
		}
		q.bindings[b] = struct{}{}
		t.index.Add(b, q)
		clear(t.routes)
	}
	return q, nil
}

// subscription is one consumer of a queue with its goroutines, and one
// worker per work group.
type subscription struct {
	t       *Transport
	q       *queue
	c       *consumer
	workers []*worker      // one per Endpoint.WorkGroups entry
	wg      sync.WaitGroup // every goroutine, workers' included
	once    sync.Once
	cancel  context.CancelFunc
}

func (s *subscription) work(ctx context.Context, h ports.Handler) {
	defer s.wg.Done()
	// The queue closes ch when the consumer is detached, after taking back
	// what was delivered to it and not yet received here.
	//
	// Requests expired before they reached the consumer were dropped by the
	// queue (see queue.publish and feed): as on RabbitMQ, a request handed to
	// a consumer is the consumer's, and the handler sees how late it is.
	for m := range s.c.ch {
		h(ctx, &m.req, m)
		s.q.settle(s.c)
	}
}

// stop detaches the consumers; requests they held but had not started go
// back to their queues for other consumers.
func (s *subscription) stop() {
	s.once.Do(func() {
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
		s.q.detach(s.c)
		for _, w := range s.workers {
			w.q.detach(w.c)
		}
	})
}

// Close implements ports.Subscription: no new requests are taken; handlers in
// flight may finish until ctx ends, then their context is cancelled. When
// ctx ends first, the requests that work-queue handlers are still running go
// back to their work queues for another consumer, and those handlers' later
// replies are refused (see worker); requests from the server's own queue
// are settled when their handlers return, as before.
func (s *subscription) Close(ctx context.Context) error {
	s.stop()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		s.cancel()
		return nil
	case <-ctx.Done():
		for _, w := range s.workers {
			w.giveUp()
		}
		s.cancel()
		return fmt.Errorf("close %s: handlers still running: %w", s.q.name, ctx.Err())
	}
}
