package amqp

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Serve declares the queue QueuePrefix+ep.QueueName() (durable, shared by
// every Serve of that name), binds it to the exchange with each of
// ep.Bindings, and consumes it with manual acks and a prefetch count of
// ep.Concurrency (Config.Prefetch when below 1). As many worker goroutines
// call h, one request each.
//
// Each Serve has one channel, which the consumers of its queue and of its
// work queues share: RabbitMQ applies a prefetch count (basic.qos with
// global=false) to each consumer, not to the channel, so every consumer
// keeps its own. A connection holds at most channel_max channels (2,047 by
// RabbitMQ's default), of which the Transport uses two of its own (the
// publishing channel, and one for its presence watchers): about 2,000 Serves
// per Transport.
//
// A request is acknowledged after h returns, so its replies, published on
// the channel that delivered it, reach the broker before the ack does. A
// message that is not a valid request is logged, answered with
// domain.CodeBadRequest when it has a correlation id and a reply-to, and
// rejected without requeueing. A reply to a direct reply-to node not yet
// proven goes over the Transport's probe connection instead (replyguard.go):
// one whose reply-to would close the connection is refused, and the
// request rejected. Everything else is h's: Serve applies no
// request policy (expiry, limits, panics: see ports.Handler), and a request
// the broker delivers past its deadline reaches h like any other.
//
// Delivery is at least once: a request whose server dies (or whose
// subscription is closed) before the handler returns goes back to the queue
// and runs again on another consumer, or on the same server after a restart.
//
// Bindings are only ever added: a binding dropped from ep.Bindings since an
// earlier run stays on the durable queue until removed on the broker.
//
// For each of ep.WorkGroups, Serve also declares the durable work queue
// QueuePrefix+"work."+group, binds it to the direct exchange Exchange+".work"
// with the group as routing key, and consumes it with prefetch 1 and one
// worker, on the Serve's channel: h runs at most Concurrency +
// len(ep.WorkGroups) times at once.
// Requests from work queues are handled as above and marked Balanced. When
// Close gives up on such a handler (its ctx ended), or the transport closes,
// the request is not acknowledged but requeued, and the handler's later
// replies are refused, so the caller hears from the consumer that runs it
// again.
//
// The ctx passed to h carries ctx's values and ends when the subscription
// closes (or its connection breaks); ctx's own end only bounds Serve.
//
// The subscription outlives connections: when the Transport reconnects, it
// declares, binds and consumes its queues again on a new channel of the new
// connection (logged "amqp: serving again"), and does the same when the
// broker closes its channel; when the broker cancels one of its consumers
// (its queue was deleted), it declares that queue again and consumes it on
// the same channel, the other consumers going on meanwhile. It retries with
// backoff while that fails. Handlers in flight when a connection breaks
// have their ctx cancelled and their replies refused; the broker requeues
// their requests. A handler that ignores its ctx may still be running when
// the next connection's handlers start. Serve called while the Transport
// reconnects waits for the connection until ctx ends. (Each queue is a
// consumer, consumer.go, that does all of this; servedQueue is what it does
// with requests.)
//
// The subscription's Close cancels its consumers (basic.cancel), so the
// broker sends no more requests; those already prefetched but not started
// go back to the queue. It then waits for the handlers in flight until its
// ctx ends, cancels their context, and closes the Serve's channel: the
// requests of handlers still running are not acknowledged and go back to
// the queue (for a work queue, even if the handler returns before the
// channel is closed, and its replies are refused from then on). It returns
// ctx's error, wrapped, when handlers were still running. It is idempotent.
func (t *Transport) Serve(ctx context.Context, ep ports.Endpoint, h ports.Handler) (ports.Subscription, error) {
	queue := t.cfg.QueuePrefix + ep.QueueName()
	if err := t.checkEndpoint(ep, h); err != nil {
		return nil, err
	}
	l, err := t.awaitLink(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp: serve %s: %w", queue, err)
	}
	n := ep.Concurrency
	if n < 1 {
		n = t.cfg.Prefetch
	}
	shared := &chanHolder{} // the Serve's channel, on each connection
	own := t.newServedQueue(ctx, ep, h, shared, queue, t.cfg.Exchange, ep.Bindings, "", n)
	cs := consumers{own}
	for _, g := range ep.WorkGroups {
		cs = append(cs, t.newWorkQueue(ctx, ep, shared, g, h))
	}
	if err := t.startConsumers(ctx, l, cs); err != nil {
		return nil, err
	}
	t.guard.warm()
	own.log.Info("amqp: serving", "bindings", ep.Bindings, "work_groups", ep.WorkGroups, "concurrency", n)
	if len(cs) == 1 {
		return own, nil
	}
	return cs, nil
}

// checkEndpoint reports why ep cannot be served, wrapping
// ports.ErrBadEndpoint: domain's naming rules (ports.Endpoint.Validate),
// then AMQP's own limit on the queue names with their prefix.
func (t *Transport) checkEndpoint(ep ports.Endpoint, h ports.Handler) error {
	err := ep.Validate()
	if err == nil && h == nil {
		err = fmt.Errorf("%w: no handler", ports.ErrBadEndpoint)
	}
	if err == nil {
		if qerr := domain.ValidateQueueName(t.cfg.QueuePrefix, ep.QueueName()); qerr != nil {
			err = fmt.Errorf("%w: %w", ports.ErrBadEndpoint, qerr)
		}
	}
	if err == nil {
		err = t.checkWorkQueues(ep)
	}
	if err != nil {
		return fmt.Errorf("amqp: serve %q: %w", ep.Name, err)
	}
	return nil
}

// servedQueue is what a consumer of a Serve does (consumerKind): consume
// the server's queue, or one of its work queues, on the Serve's channel,
// and hand each request to the handler.
type servedQueue struct {
	t        *Transport
	ep       ports.Endpoint
	shared   *chanHolder // the channel of the Serve, shared by its queues' consumers
	queue    string
	exchange string   // the queue is bound to it with each of bindings
	bindings []string // topic patterns; the group for a work queue
	group    string   // the work group; empty for the server's own queue
	h        ports.Handler
}

// newServedQueue returns the consumer of queue for ep, with workers
// workers and as many requests prefetched, not yet set up; h's contexts
// carry ctx's values.
func (t *Transport) newServedQueue(ctx context.Context, ep ports.Endpoint, h ports.Handler, shared *chanHolder,
	queue, exchange string, bindings []string, group string, workers int) *consumer {
	log := t.log.With("queue", queue, "server", ep.Name)
	if group != "" {
		log = log.With("group", group)
	}
	q := &servedQueue{t: t, ep: ep, shared: shared, queue: queue, exchange: exchange, bindings: bindings, group: group, h: h}
	return newConsumer(ctx, t, q, consumerSpec{
		what: "serve " + queue, noun: "subscription", busy: "handlers", log: log,
		workers: workers, prefetch: workers, tagPrefix: "topicrpc-",
	})
}

// channel implements consumerKind: the Serve's channel.
func (q *servedQueue) channel(*link) (*chanHolder, error) { return q.shared, nil }

// declare implements consumerKind: it declares and binds the queue (and
// the work exchange, for a work queue) on ch.
func (q *servedQueue) declare(l *link, ch *amqp.Channel) (string, error) {
	spec := q.t.cfg.serverQueue()
	if q.group != "" {
		if err := declareWorkExchange(ch, q.exchange); err != nil {
			return "", err
		}
		spec = q.t.cfg.workQueueSpec()
	}
	// Not exclusive, nor auto-deleted: a server that restarts finds the
	// requests that arrived meanwhile (those not expired), and several
	// servers may share the queue as competing consumers. Its type is the
	// Config's (QueueTypes). Declared on a channel of its own: a queue
	// declared with other arguments by an earlier version is used as it
	// is (declareQueue).
	if err := q.t.declareQueue(l.conn, q.queue, spec); err != nil {
		return "", err
	}
	for _, b := range q.bindings {
		if err := ch.QueueBind(q.queue, b, q.exchange, false, nil); err != nil {
			return "", fmt.Errorf("amqp: bind queue %s to exchange %s with %s: %w", q.queue, q.exchange, b, err)
		}
	}
	return q.queue, nil
}

// work implements consumerKind: one request at a time, to completion.
func (q *servedQueue) work(g *generation) {
	for d := range g.deliveries {
		q.handle(g, &d)
	}
}

// handle runs one delivery to completion and settles it.
func (q *servedQueue) handle(g *generation, d *amqp.Delivery) {
	if g.stopping() {
		// Prefetched but not started: give it to another consumer.
		q.settle(g, d, settleRequeue)
		return
	}
	req, err := q.decode(d)
	if err != nil {
		g.c.log.Warn("amqp: rejected a malformed request", "reason", err, "call_id", truncate(d.CorrelationId, 64),
			"command", truncate(d.Type, 64), "redelivered", d.Redelivered)
		if d.CorrelationId != "" && replyable(d.ReplyTo) {
			q.replyError(g, d, domain.CodeBadRequest, err.Error())
		}
		q.settle(g, d, settleReject)
		return
	}
	req.Balanced = q.group != ""
	rw := &replyWriter{q: q, g: g, callID: req.ID, replyTo: d.ReplyTo}
	q.h(g.ctx, req, guardedReply{rw})
	rw.finished.Store(true)
	if rw.poisoned.Load() {
		// Its reply-to would close the connection: never redelivered.
		g.settledClaim(rw)
		q.settle(g, d, settleReject)
		return
	}
	if q.group != "" && g.gaveUp.Load() {
		// Close gave up on the handler, or the channel broke: the request
		// goes back to the work queue for another consumer (the broker
		// would requeue it anyway when the channel closes), never
		// acknowledged half done, its claim released first.
		g.releaseClaim(rw)
		q.settle(g, d, settleRequeue)
		return
	}
	g.settledClaim(rw)
	q.settle(g, d, settleAck)
}

// settle settles d on g's channel (generation.settle) and logs a failure:
// the broker then redelivers the request once the channel closes.
func (q *servedQueue) settle(g *generation, d *amqp.Delivery, how settlement) {
	if err := g.settle(d, how); err != nil && !g.stopping() && !g.link.down() {
		g.c.log.Warn("amqp: could not "+how.String()+" a request; the broker will redeliver it", "error", err)
	}
}

// replyError answers d with an error result, without a handler.
func (q *servedQueue) replyError(g *generation, d *amqp.Delivery, code, msg string) {
	rw := guardedReply{&replyWriter{q: q, g: g, callID: d.CorrelationId, replyTo: d.ReplyTo}}
	r := domain.Reply{Kind: domain.KindResult, Code: code, Error: msg}
	if err := rw.Reply(g.ctx, r); err != nil {
		g.c.log.Warn("amqp: could not send an error reply", "call_id", truncate(d.CorrelationId, 64), "code", code, "error", err)
	}
}

// paused implements consumerKind.
func (q *servedQueue) paused(g *generation, end genEnd, e *amqp.Error) {
	switch end {
	case endLost:
		g.c.log.Debug("amqp: paused serving: connection lost", "error", e)
	case endChannelError:
		g.c.log.Error("amqp: subscription channel closed by the broker; serving again on a new channel", "error", e)
	case endCancelled:
		g.c.log.Error("amqp: broker cancelled the consumer (queue deleted?); declaring the queue again")
	default:
		g.c.log.Warn("amqp: subscription channel closed unexpectedly; serving again on a new channel")
	}
}

// resumed implements consumerKind.
func (q *servedQueue) resumed(g *generation) {
	g.c.log.Info("amqp: serving again", "bindings", q.bindings, "concurrency", g.c.spec.workers)
}

// stopped implements consumerKind.
func (q *servedQueue) stopped(g *generation, cancelErr error) {
	if cancelErr != nil {
		g.c.log.Warn("amqp: could not cancel the consumer", "error", cancelErr)
	}
	g.c.log.Info("amqp: stopped serving")
}

// guardedReply is the ReplyWriter of a request taken from a served queue:
// it publishes only while the channel is open (see chMu) and, for a work
// queue, only until Close gives up on the handlers, whose requests go back
// to the queue for another consumer to answer.
type guardedReply struct{ *replyWriter }

// Reply implements ports.ReplyWriter.
func (w guardedReply) Reply(ctx context.Context, r domain.Reply) error {
	g := w.g
	// A reply-to that might close the connection goes over the probe
	// connection first (replyguard.go), never on the delivering channel.
	if sent, err := w.guard(ctx, r, w.refused); sent {
		return err
	}
	// Wait out the broker's flow control before taking the channel's lock:
	// a method waiting for the lock would hold back every ack meanwhile.
	if err := g.link.gate.wait(ctx, g.link.lost, g.link.failure); err != nil {
		return fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	g.sc.chMu.RLock()
	defer g.sc.chMu.RUnlock()
	if err := w.refusedLocked(); err != nil {
		return err
	}
	return w.replyWriter.Reply(ctx, r)
}

// refused returns why no reply may go out for the request any more, or nil.
func (w guardedReply) refused() error {
	w.g.sc.chMu.RLock()
	defer w.g.sc.chMu.RUnlock()
	return w.refusedLocked()
}

// refusedLocked is refused, with g.sc.chMu held.
func (w guardedReply) refusedLocked() error {
	g := w.g
	switch {
	case w.q.group != "" && g.gaveUp.Load():
		return fmt.Errorf("amqp: reply to %s: the request went back to work queue %s when the subscription stopped", w.callID, w.q.queue)
	case g.sc.chClosing:
		return fmt.Errorf("amqp: reply to %s: subscription closed: %w", w.callID, amqp.ErrClosed)
	case g.link.down():
		return fmt.Errorf("amqp: reply to %s: %w; the broker requeues the request", w.callID, ErrConnectionLost)
	}
	return nil
}
