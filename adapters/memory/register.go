package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

var _ ports.Register = (*Transport)(nil)

// The fleet register of an in-process exchange: one domain.Register behind
// the transport's lock, with RabbitMQ's semantics — it outlives every server
// that wrote to it (for the transport's life), updates are atomic, and a
// queue's consumer count drops to zero the moment its last subscription
// closes.

// ReadRegister implements ports.Register: a copy of the register.
func (t *Transport) ReadRegister(ctx context.Context) (*domain.Register, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read register: %w", err)
	}
	t.regMu.Lock()
	defer t.regMu.Unlock()
	if t.isClosed() {
		return nil, fmt.Errorf("read register: %w", ports.ErrClosed)
	}
	return domain.NewRegister(slices.Clone(t.register.All())), nil
}

// UpdateRegister implements ports.Register: fn runs once, on a copy that
// replaces the register only when fn succeeds.
func (t *Transport) UpdateRegister(ctx context.Context, fn func(*domain.Register) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update register: %w", err)
	}
	t.regMu.Lock()
	defer t.regMu.Unlock()
	if t.isClosed() {
		return fmt.Errorf("update register: %w", ports.ErrClosed)
	}
	g := domain.NewRegister(slices.Clone(t.register.All()))
	if err := fn(g); err != nil {
		return err
	}
	t.register = *g
	return nil
}

// Consumers implements ports.Register.
func (t *Transport) Consumers(ctx context.Context, queues []string) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("count consumers: %w", err)
	}
	counts := make([]int, len(queues))
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i, name := range queues {
		q := t.queues[name]
		if q == nil {
			counts[i] = ports.NoQueue
			continue
		}
		q.mu.Lock()
		counts[i] = len(q.consumers)
		q.mu.Unlock()
	}
	return counts, nil
}

// DeleteQueue implements ports.Register.
func (t *Transport) DeleteQueue(ctx context.Context, name string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("delete queue %s: %w", name, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queues[name]
	if q == nil {
		return 0, fmt.Errorf("delete queue %s: %w", name, ports.ErrNoQueue)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.consumers) > 0 {
		return 0, fmt.Errorf("delete queue %s: %w: %d consumer(s)", name, ports.ErrQueueInUse, len(q.consumers))
	}
	for b := range q.bindings {
		t.index.Remove(b, q)
	}
	clear(t.routes)
	delete(t.queues, name)
	held := len(q.backlog)
	q.backlog = nil
	return held, nil
}

func (t *Transport) isClosed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}
