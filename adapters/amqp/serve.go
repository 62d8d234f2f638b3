package amqp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
// rejected without requeueing. Everything else is h's: Serve applies no
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
// reconnects waits for the connection until ctx ends.
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
	s := newSubscription(ctx, t, ep, h, shared, queue, t.cfg.Exchange, ep.Bindings, "", n)
	subs := subscriptions{s}
	for _, g := range ep.WorkGroups {
		subs = append(subs, t.newWorkSub(ctx, ep, shared, g, h))
	}
	var gens []*subGen
	setup := func() (err error) {
		gens, err = setupAll(l, subs)
		return err
	}
	abandon := func() {
		for _, g := range gens {
			g.release()
		}
	}
	if err := runCtx(ctx, setup, abandon); err != nil {
		for _, x := range subs {
			x.stop()
		}
		if l.down() && !errors.Is(err, ports.ErrUnavailable) {
			err = fmt.Errorf("%w (%w)", ErrConnectionLost, err)
		}
		return nil, err
	}
	if !t.startSubs(subs, gens) {
		for i, x := range subs {
			x.stop()
			gens[i].release()
		}
		return nil, fmt.Errorf("amqp: serve %s: %w", queue, ports.ErrClosed)
	}
	s.log.Info("amqp: serving", "bindings", ep.Bindings, "work_groups", ep.WorkGroups, "concurrency", n)
	if len(subs) == 1 {
		return s, nil
	}
	return subs, nil
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

// subscription is one running Serve, or one work group of it: a consumer
// that outlives connections. It has generations (subGen): a consumer on the
// Serve's channel, and its workers; a new one on each connection, and after
// the broker cancelled the last.
type subscription struct {
	t        *Transport
	ep       ports.Endpoint
	shared   *chanHolder // the channel of the Serve, shared by its subscriptions
	queue    string
	exchange string   // the queue is bound to it with each of bindings
	bindings []string // topic patterns; the group for a work queue
	group    string   // the work group; empty for the server's own queue
	h        ports.Handler
	log      *slog.Logger
	workers  int

	ctx      context.Context // parent of the handlers' contexts
	cancel   context.CancelFunc
	quitCtx  context.Context // ends when the subscription or the Transport stops: ends a resumption in progress
	quit     context.CancelFunc
	stopping atomic.Bool    // set by Close (under mu): requests not yet started go back to the queue
	running  sync.WaitGroup // the runner and the workers of every generation
	done     chan struct{}  // closed when the runner and every worker have returned

	mu  sync.Mutex
	gen *subGen // the current generation

	closeOnce sync.Once
	closeErr  error
}

// subGen is one generation of a subscription: its consumer on the Serve's
// channel on one connection, with the handlers of the requests delivered to
// it. Acks and replies go out on the channel the request came from, never
// on a later generation's: delivery tags belong to their channel, and
// acknowledging an old tag on a new channel would settle another request or
// close the channel. A generation that follows a cancelled consumer may
// share its predecessor's channel; the tags of both stay valid on it.
type subGen struct {
	s          *subscription
	link       *link
	sc         *sharedChan // the Serve's channel, which delivered the requests
	tag        string      // the consumer's tag
	deliveries <-chan amqp.Delivery
	cancelled  <-chan struct{} // closed when the broker cancels the consumer
	idle       chan struct{}   // closed when this generation's workers have returned

	ctx    context.Context // parent of this generation's handlers' contexts
	cancel context.CancelFunc
	gaveUp atomic.Bool // set when handlers in flight are cancelled: work queues requeue their requests

	releaseOnce sync.Once
}

// newSubscription returns a subscription not yet set up; h's contexts carry
// ctx's values.
func newSubscription(ctx context.Context, t *Transport, ep ports.Endpoint, h ports.Handler, shared *chanHolder,
	queue, exchange string, bindings []string, group string, workers int) *subscription {
	s := &subscription{
		t:        t,
		ep:       ep,
		shared:   shared,
		queue:    queue,
		exchange: exchange,
		bindings: bindings,
		group:    group,
		h:        h,
		log:      t.log.With("queue", queue, "server", ep.Name),
		workers:  workers,
		done:     make(chan struct{}),
	}
	if group != "" {
		s.log = s.log.With("group", group)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.quitCtx, s.quit = context.WithCancel(t.ctx)
	return s
}

// stop ends a subscription that never started.
func (s *subscription) stop() {
	s.stopping.Store(true)
	s.quit()
	s.cancel()
}

// setup declares and binds the queue and starts consuming it on the
// Serve's channel on l, opening it if need be: the subscription's next
// generation, not yet running. With isolate, the declarations go over a
// short-lived channel of their own instead: a failed declaration closes its
// channel, and the Serve's other consumers must not pay for it.
func (s *subscription) setup(l *link, isolate bool) (g *subGen, err error) {
	sc, err := s.shared.acquire(l, s.t.log)
	if err != nil {
		return nil, fmt.Errorf("amqp: serve %s: %w", s.queue, err)
	}
	defer func() {
		if err != nil {
			sc.release()
		}
	}()
	if isolate {
		err = s.declareApart(l)
	} else {
		err = sc.rpc(s.declare)
	}
	if err != nil {
		return nil, err
	}
	tag := "topicrpc-" + rand.Text()
	cancelled := sc.watchCancel(tag)
	deliveries, err := sc.consume(s.queue, tag, s.workers, false)
	if err != nil {
		sc.forget(tag)
		return nil, fmt.Errorf("amqp: serve %s: %w", s.queue, err)
	}
	g = &subGen{s: s, link: l, sc: sc, tag: tag, deliveries: deliveries, cancelled: cancelled,
		idle: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(s.ctx)
	return g, nil
}

// declareApart declares and binds the queue on a short-lived channel of
// its own.
func (s *subscription) declareApart(l *link) error {
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: serve %s: open channel: %w", s.queue, err)
	}
	defer ch.Close()
	return s.declare(ch)
}

// declare declares and binds the queue (and the work exchange, for a work
// queue) on ch.
func (s *subscription) declare(ch *amqp.Channel) error {
	if s.group != "" {
		if err := declareWorkExchange(ch, s.exchange); err != nil {
			return err
		}
	}
	// Durable and not exclusive: a server that restarts finds the requests
	// that arrived meanwhile (those not expired), and several servers may
	// share the queue as competing consumers.
	if _, err := ch.QueueDeclare(s.queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("amqp: declare queue %s: %w", s.queue, err)
	}
	for _, b := range s.bindings {
		if err := ch.QueueBind(s.queue, b, s.exchange, false, nil); err != nil {
			return fmt.Errorf("amqp: bind queue %s to exchange %s with %s: %w", s.queue, s.exchange, b, err)
		}
	}
	return nil
}

// start makes g the current generation and runs the subscription: g's
// workers and the runner, which resumes on the next connection. Call it
// under t.mu (Transport.startSubs), so that Close waits for the runner.
func (s *subscription) start(g *subGen) {
	s.mu.Lock()
	s.gen = g
	s.mu.Unlock()
	s.running.Add(1)
	g.startWorkers()
	s.t.wg.Go(func() {
		defer s.running.Done()
		s.run(g)
	})
	go func() {
		s.running.Wait()
		close(s.done)
	}()
}

// startWorkers runs g's workers, one request each at a time.
func (g *subGen) startWorkers() {
	var wg sync.WaitGroup
	for range g.s.workers {
		g.s.running.Add(1)
		wg.Go(func() {
			defer g.s.running.Done()
			for d := range g.deliveries {
				g.handle(&d)
			}
		})
	}
	go func() {
		wg.Wait()
		close(g.idle)
	}()
}

// How a generation ended (subGen.wait).
type genEnd uint8

const (
	endClosed       genEnd = iota // its channel closed on purpose: Close, or the Transport's
	endLost                       // the connection broke
	endChannelError               // the broker closed the channel
	endCancelled                  // the broker cancelled the consumer (its queue was deleted)
	endDrained                    // the deliveries ended with the channel open: Close cancelled the consumer
)

// wait returns when g ends, and why (with the broker's error, if any).
// When the channel broke, it first cancels the handlers' contexts: their
// replies can no longer be sent, and the broker requeues their requests.
func (g *subGen) wait() (genEnd, *amqp.Error) {
	broke := func() (genEnd, *amqp.Error) {
		e := g.sc.closeError()
		if e == nil {
			return endClosed, nil
		}
		g.gaveUp.Store(true)
		g.cancel()
		if g.link.conn.IsClosed() { // set before the connection closes its channels
			return endLost, e
		}
		return endChannelError, e
	}
	select {
	case <-g.sc.closed():
		return broke()
	case <-g.cancelled:
		return endCancelled, nil
	case <-g.idle:
		// The library reports a close or a cancel before it ends the
		// deliveries: poll takes in what it reported.
		g.sc.poll()
		select {
		case <-g.sc.closed():
			return broke()
		case <-g.cancelled:
			return endCancelled, nil
		default:
			return endDrained, nil
		}
	}
}

// run follows the subscription from generation to generation: when one ends
// for any reason but Close, it sets the subscription up again on the live
// connection (waiting for the supervisor's next one if need be) until that
// succeeds or the subscription stops. After a channel error or a cancelled
// consumer it first waits a backoff, which starts afresh only once a
// generation has lasted reconnectMax: a channel that keeps breaking is not
// set up again in a tight loop.
func (s *subscription) run(g *subGen) {
	b := newBackoff()
	since := time.Now()
	for {
		end, e := g.wait()
		if s.stopping.Load() {
			return
		}
		switch end {
		case endLost:
			s.log.Debug("amqp: paused serving: connection lost", "error", e)
		case endChannelError:
			s.log.Error("amqp: subscription channel closed by the broker; serving again on a new channel", "error", e)
		case endCancelled:
			s.log.Error("amqp: broker cancelled the consumer (queue deleted?); declaring the queue again")
		default:
			s.log.Warn("amqp: subscription channel closed unexpectedly; serving again on a new channel")
		}
		if end == endCancelled {
			// The channel is open: let its handlers settle their requests.
			go func(old *subGen) {
				<-old.idle
				old.release()
				old.cancel()
			}(g)
		} else {
			g.release()
			g.cancel() // its handlers can no longer reply
		}
		if end != endLost { // the supervisor paces reconnections
			if time.Since(since) >= reconnectMax {
				b = newBackoff()
			}
			if !sleepCtx(s.quitCtx, b.next()) {
				return
			}
		}
		var next *subGen
		// After a cancel, the Serve's other consumers go on on the channel:
		// declare apart from it.
		isolate := end == endCancelled
		ok := s.t.redo(s.quitCtx, s.log, func(l *link) error {
			n, err := s.setup(l, isolate)
			if err != nil {
				return err
			}
			s.mu.Lock()
			if s.stopping.Load() {
				s.mu.Unlock()
				n.release()
				return errStopped
			}
			s.gen = n
			n.startWorkers() // under mu: Close cancels this generation's consumer, not the last one's
			s.mu.Unlock()
			next = n
			return nil
		})
		if !ok {
			return
		}
		s.log.Info("amqp: serving again", "bindings", s.bindings, "concurrency", s.workers)
		g, since = next, time.Now()
	}
}

// handle runs one delivery to completion and settles it.
func (g *subGen) handle(d *amqp.Delivery) {
	s := g.s
	if s.stopping.Load() {
		// Prefetched but not started: give it to another consumer.
		g.settle(d, settleRequeue)
		return
	}
	req, err := s.decode(d)
	if err != nil {
		s.log.Warn("amqp: rejected a malformed request", "reason", err, "call_id", truncate(d.CorrelationId, 64),
			"command", truncate(d.Type, 64), "redelivered", d.Redelivered)
		if d.CorrelationId != "" && replyable(d.ReplyTo) {
			g.replyError(d, domain.CodeBadRequest, err.Error())
		}
		g.settle(d, settleReject)
		return
	}
	req.Balanced = s.group != ""
	rw := &replyWriter{g: g, callID: req.ID, replyTo: d.ReplyTo}
	s.h(g.ctx, req, guardedReply{rw})
	rw.finished.Store(true)
	if s.group != "" && g.gaveUp.Load() {
		// Close gave up on the handler, or the channel broke: the request
		// goes back to the work queue for another consumer (the broker
		// would requeue it anyway when the channel closes), never
		// acknowledged half done.
		g.settle(d, settleRequeue)
		return
	}
	g.settle(d, settleAck)
}

// replyError answers d with an error result, without a handler.
func (g *subGen) replyError(d *amqp.Delivery, code, msg string) {
	rw := guardedReply{&replyWriter{g: g, callID: d.CorrelationId, replyTo: d.ReplyTo}}
	r := domain.Reply{Kind: domain.KindResult, Code: code, Error: msg}
	if err := rw.Reply(g.ctx, r); err != nil {
		g.s.log.Warn("amqp: could not send an error reply", "call_id", truncate(d.CorrelationId, 64), "code", code, "error", err)
	}
}

// settlement is what settle does with a delivery.
type settlement uint8

const (
	settleAck     settlement = iota // done: remove it from the queue
	settleRequeue                   // not done: back to the queue for any consumer
	settleReject                    // unusable: drop it
)

// settle acknowledges, requeues or rejects d on g's channel, unless the
// channel is closing: then the broker requeues d when the channel closes. A
// failure is logged; the broker then redelivers the request once the
// channel closes.
func (g *subGen) settle(d *amqp.Delivery, how settlement) {
	g.sc.chMu.RLock()
	defer g.sc.chMu.RUnlock()
	if g.sc.chClosing {
		return
	}
	var err error
	what := "ack"
	switch how {
	case settleAck:
		err = d.Ack(false)
	case settleRequeue:
		err, what = d.Nack(false, true), "requeue"
	case settleReject:
		err, what = d.Reject(false), "reject"
	}
	if err != nil && !g.s.stopping.Load() && !g.link.down() {
		g.s.log.Warn("amqp: could not "+what+" a request; the broker will redeliver it", "error", err)
	}
}

// guardedReply is the ReplyWriter of a request taken from s's queue: it
// publishes only while the channel is open (see chMu) and, for a work queue,
// only until Close gives up on the handlers, whose requests go back to the
// queue for another consumer to answer.
type guardedReply struct{ *replyWriter }

// Reply implements ports.ReplyWriter.
func (w guardedReply) Reply(ctx context.Context, r domain.Reply) error {
	g := w.g
	// Wait out the broker's flow control before taking the channel's lock:
	// a method waiting for the lock would hold back every ack meanwhile.
	if err := g.link.gate.wait(ctx, g.link.lost, g.link.failure); err != nil {
		return fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	g.sc.chMu.RLock()
	defer g.sc.chMu.RUnlock()
	switch {
	case g.s.group != "" && g.gaveUp.Load():
		return fmt.Errorf("amqp: reply to %s: the request went back to work queue %s when the subscription stopped", w.callID, g.s.queue)
	case g.sc.chClosing:
		return fmt.Errorf("amqp: reply to %s: subscription closed: %w", w.callID, amqp.ErrClosed)
	case g.link.down():
		return fmt.Errorf("amqp: reply to %s: %w; the broker requeues the request", w.callID, ErrConnectionLost)
	}
	return w.replyWriter.Reply(ctx, r)
}

// Close cancels the consumer (basic.cancel), so the broker sends no more
// requests; those already prefetched but not started go back to the queue.
// It then waits for the handlers in flight until ctx ends, cancels their
// context, and gives the channel back: the Serve's last subscription to
// close closes it, and the requests of handlers still running are not
// acknowledged and go back to the queue (for a work queue, even if the
// handler returns before the channel is closed, and its replies are refused
// from then on). It returns ctx's error, wrapped, when handlers were still
// running. It is idempotent.
func (s *subscription) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *subscription) close(ctx context.Context) error {
	s.mu.Lock()
	s.stopping.Store(true)
	g := s.gen
	s.mu.Unlock()
	s.quit()
	defer s.t.removeSub(s)
	err := runCtx(ctx, func() error { return g.sc.cancel(g.tag) }, func() {})
	if err != nil && !errors.Is(err, amqp.ErrClosed) && ctx.Err() == nil {
		s.log.Warn("amqp: could not cancel the consumer", "error", err)
	}
	select {
	case <-s.done:
		err = nil
	case <-ctx.Done():
		err = fmt.Errorf("amqp: close subscription %s: handlers still running: %w", s.queue, ctx.Err())
		g.gaveUp.Store(true)
	}
	s.cancel()
	// Closing waits for the broker's close-ok; do not wait past ctx for it.
	closed := make(chan struct{})
	go func() {
		g.release()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	s.log.Info("amqp: stopped serving")
	return err
}

// abort stops the subscription without waiting: the transport is closing
// and its connection, with every channel, with it.
func (s *subscription) abort() {
	s.mu.Lock()
	s.stopping.Store(true)
	g := s.gen
	s.mu.Unlock()
	s.quit()
	if g != nil {
		g.gaveUp.Store(true)
	}
	s.cancel()
}

// release gives g's channel back, once: the last consumer of the Serve to
// give it back closes it, once the acks and replies being sent on it are
// out; none goes out after.
func (g *subGen) release() {
	g.releaseOnce.Do(func() {
		g.sc.forget(g.tag)
		g.sc.release()
	})
}
