package amqp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Work queues carry balanced requests (domain.Request.Balanced) to the
// servers of a group (ports.Endpoint.WorkGroups): the classic work-queue
// pattern. Balanced requests go to a durable direct exchange apart from the
// topic exchange, <Exchange>.work, with the group as routing key; each group
// has a durable queue <QueuePrefix>work.<group> bound to it with that key,
// consumed by every server of the group with prefetch 1 (on the server's
// channel: the prefetch count is per consumer). RabbitMQ then hands each
// request to one consumer without an unacknowledged request (fair
// dispatch), and requeues it if that consumer's channel or connection closes
// before the ack (at-least-once).

// workQueuePrefix starts the name of every work queue after QueuePrefix. A
// server queue may not start with it: it would be a work queue.
const workQueuePrefix = "work."

// workExchange is the direct exchange balanced requests are published to.
func (c Config) workExchange() string { return c.Exchange + ".work" }

// workQueue is the name of group's work queue.
func (c Config) workQueue(group string) string { return c.QueuePrefix + workQueuePrefix + group }

// checkWorkQueues reports, wrapping ports.ErrBadEndpoint, why ep's work
// queues cannot be declared: a name too long for AMQP with its prefix (the
// groups themselves are checked by ports.Endpoint.Validate). It also
// refuses a server queue whose name would be a work queue's.
func (t *Transport) checkWorkQueues(ep ports.Endpoint) error {
	for _, kept := range []string{workQueuePrefix, "fleet.", claimQueuePrefix} {
		if strings.HasPrefix(ep.QueueName(), kept) {
			return fmt.Errorf("%w: queue name %q starts with %q, which is kept for topicrpc's own queues",
				ports.ErrBadEndpoint, ep.QueueName(), kept)
		}
	}
	if len(ep.WorkGroups) == 0 {
		return nil
	}
	if x := t.cfg.workExchange(); len(x) > maxShortString {
		return fmt.Errorf("%w: work exchange name %s is %d bytes, at most %d allowed",
			ports.ErrBadEndpoint, x, len(x), maxShortString)
	}
	for _, g := range ep.WorkGroups {
		if err := domain.ValidateQueueName(t.cfg.QueuePrefix+workQueuePrefix, g); err != nil {
			return fmt.Errorf("%w: work group %q: %w", ports.ErrBadEndpoint, g, err)
		}
	}
	return nil
}

// declareWorkExchange declares the durable direct exchange of work queues on ch.
func declareWorkExchange(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclare(name, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("amqp: declare work exchange %s: %w", name, err)
	}
	return nil
}

// workExchangeDecl remembers that the transport declared the work exchange:
// publishing to an exchange that does not exist would make the broker close
// the publishing channel, so the first balanced Send declares it.
type workExchangeDecl struct {
	mu   sync.Mutex
	done atomic.Bool
}

// balance prepares msg for the work queue of its group: persistent, to the
// work exchange, which it declares on first use on l's connection (a broker
// that restarted may have lost it), once the broker lets it publish. It
// returns the exchange.
func (t *Transport) balance(ctx context.Context, l *link, msg *amqp.Publishing) (string, error) {
	name := t.cfg.workExchange()
	if len(name) > maxShortString {
		return "", fmt.Errorf("amqp: work exchange name %s is %d bytes, at most %d allowed", name, len(name), maxShortString)
	}
	if !l.workDecl.done.Load() {
		// A connection the broker blocks answers no method either: wait
		// it out first, not holding the lock.
		if err := l.gate.wait(ctx, l.lost, l.failure); err != nil {
			return "", err
		}
		l.workDecl.mu.Lock()
		defer l.workDecl.mu.Unlock()
		if !l.workDecl.done.Load() {
			err := runCtx(ctx, func() error {
				ch, err := l.conn.Channel()
				if err != nil {
					return fmt.Errorf("amqp: open channel: %w", err)
				}
				defer ch.Close()
				return declareWorkExchange(ch, name)
			}, func() {})
			if err != nil {
				return "", err
			}
			l.workDecl.done.Store(true)
		}
	}
	msg.DeliveryMode = amqp.Persistent
	return name, nil
}

// newWorkQueue returns the consumer of group's work queue for ep: one
// worker, prefetch 1, on the Serve's channel (shared).
func (t *Transport) newWorkQueue(ctx context.Context, ep ports.Endpoint, shared *chanHolder, group string, h ports.Handler) *consumer {
	return t.newServedQueue(ctx, ep, h, shared, t.cfg.workQueue(group), t.cfg.workExchange(), []string{group}, group, 1)
}
