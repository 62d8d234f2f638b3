package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Serve implements ports.Transport. The queue is created on first use and kept
// after the subscription closes, with its bindings, like a durable RabbitMQ
// queue. The subscription is a consumer with prefetch ep.Concurrency.
func (t *Transport) Serve(ctx context.Context, ep ports.Endpoint, h ports.Handler) (ports.Subscription, error) {
	name := ep.QueueName()
	if err := validateEndpoint(ep); err != nil {
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
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	s.wg.Add(n)
	for range n {
		go s.work(subCtx, h)
	}
	q.attach(s.c)
	return s, nil
}

func validateEndpoint(ep ports.Endpoint) error {
	name := ep.QueueName()
	if name == "" {
		return fmt.Errorf("%w: empty server name", ports.ErrBadEndpoint)
	}
	if err := domain.ValidateKey(name); err != nil {
		return fmt.Errorf("%w: queue name: %w", ports.ErrBadEndpoint, err)
	}
	for _, b := range ep.Bindings {
		if err := domain.ValidateBinding(b); err != nil {
			return fmt.Errorf("%w: binding %q: %w", ports.ErrBadEndpoint, b, err)
		}
	}
	return nil
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

// subscription is one consumer of a queue with its workers.
type subscription struct {
	t      *Transport
	q      *queue
	c      *consumer
	wg     sync.WaitGroup
	once   sync.Once
	cancel context.CancelFunc
}

func (s *subscription) work(ctx context.Context, h ports.Handler) {
	defer s.wg.Done()
	// The queue closes ch when the consumer is detached, after taking back
	// what was delivered to it and not yet received here.
	for m := range s.c.ch {
		// time.Until reads only the monotonic clock when the deadline has one.
		if m.req.Deadline.IsZero() || time.Until(m.req.Deadline) > 0 {
			h(ctx, &m.req, m)
		} // else dropped unseen, as RabbitMQ drops expired messages
		s.q.settle(s.c)
	}
}

// stop detaches the consumer; requests it held but had not started go back
// to the queue for other consumers.
func (s *subscription) stop() {
	s.once.Do(func() {
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
		s.q.detach(s.c)
	})
}

// Close implements ports.Subscription: no new requests are taken; handlers in
// flight may finish until ctx ends, then their context is cancelled.
func (s *subscription) Close(ctx context.Context) error {
	s.stop()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return fmt.Errorf("close %s: handlers still running: %w", s.q.name, ctx.Err())
	}
}
