package amqp

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/ports"
)

// replyRouter hands each reply to the sink registered for its correlation id.
//
// Replies are consumed without acks (direct reply-to requires it, and a reply
// queue dies with its connection anyway), so a reply is handed over at most
// once. Replies for ids nobody registered, or already forgot, are counted and
// dropped.
type replyRouter struct {
	log     *slog.Logger
	mu      sync.RWMutex
	sinks   map[string]ports.ReplySink
	dropped atomic.Uint64
}

func newReplyRouter(log *slog.Logger) *replyRouter {
	return &replyRouter{log: log, sinks: make(map[string]ports.ReplySink)}
}

func (r *replyRouter) register(id string, sink ports.ReplySink) {
	r.mu.Lock()
	r.sinks[id] = sink
	r.mu.Unlock()
}

func (r *replyRouter) forget(id string) {
	r.mu.Lock()
	delete(r.sinks, id)
	r.mu.Unlock()
}

// run routes deliveries until the channel closes. Replies from one server to
// one call travel on one path (the server's channel, one queue) and are
// routed by one goroutine, so they reach the sink in the order sent.
func (r *replyRouter) run(deliveries <-chan amqp.Delivery) {
	for d := range deliveries {
		r.route(&d)
	}
}

// route hands one reply to its sink. The sink is called without holding the
// lock, so a sink may call Forget from Deliver.
func (r *replyRouter) route(d *amqp.Delivery) {
	rep, err := decodeReply(d)
	if err != nil {
		r.drop(d, err.Error())
		return
	}
	r.mu.RLock()
	sink := r.sinks[rep.CallID]
	r.mu.RUnlock()
	if sink == nil {
		r.drop(d, "no call waiting for it")
		return
	}
	sink.Deliver(rep)
}

func (r *replyRouter) drop(d *amqp.Delivery, why string) {
	n := r.dropped.Add(1)
	if r.log.Enabled(context.Background(), slog.LevelDebug) {
		r.log.Debug("amqp: dropped a reply", "call_id", d.CorrelationId, "server", d.AppId,
			"kind", d.Type, "reason", why, "dropped_total", n)
	}
}

// replyQueue is the reply queue of ReplyQueue mode, consumed on its own channel.
type replyQueue struct {
	ch   *amqp.Channel
	name string
}

// consumeReplyQueue declares an exclusive, auto-delete, server-side reply
// queue on a channel of its own and consumes it without acks.
func consumeReplyQueue(conn *amqp.Connection, prefix string) (*replyQueue, <-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("amqp: open reply channel: %w", err)
	}
	name := prefix + "reply." + rand.Text()
	if _, err := ch.QueueDeclare(name, false, true, true, false, nil); err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("amqp: declare reply queue %s: %w", name, err)
	}
	deliveries, err := ch.Consume(name, "", true, true, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("amqp: consume reply queue %s: %w", name, err)
	}
	return &replyQueue{ch: ch, name: name}, deliveries, nil
}
