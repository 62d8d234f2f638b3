package amqp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Serve declares the queue QueuePrefix+ep.QueueName() (durable, shared by
// every Serve of that name), binds it to the exchange with each of
// ep.Bindings, and consumes it on a channel of its own with manual acks and a
// prefetch count of ep.Concurrency (Config.Prefetch when below 1). As many
// worker goroutines call h, one request each.
//
// A request is acknowledged after h returns, so its replies, published on
// the same channel, reach the broker before the ack does. A request past its
// deadline when taken is answered with domain.CodeExpired and acknowledged
// without calling h. A message that is not a valid request is logged,
// answered with domain.CodeBadRequest when it has a correlation id and a
// reply-to, and rejected without requeueing. A handler that panics is
// answered with domain.CodePanic; the worker keeps running.
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
// worker, on a channel of its own (RabbitMQ applies a prefetch count per
// channel in practice, and replies must precede their ack on the channel
// that acks): h runs at most Concurrency + len(ep.WorkGroups) times at once.
// Requests from work queues are handled as above and marked Balanced. When
// Close gives up on such a handler (its ctx ended), or the transport closes,
// the request is not acknowledged but requeued, and the handler's later
// replies are refused, so the caller hears from the consumer that runs it
// again.
//
// The ctx passed to h carries ctx's values, ends at the request's deadline,
// and ends when the subscription closes; ctx's own end only bounds Serve.
func (t *Transport) Serve(ctx context.Context, ep ports.Endpoint, h ports.Handler) (ports.Subscription, error) {
	queue := t.cfg.QueuePrefix + ep.QueueName()
	if err := t.checkEndpoint(ep, queue, h); err != nil {
		return nil, err
	}
	select {
	case <-t.down:
		return nil, fmt.Errorf("amqp: serve %s: %w", queue, t.failure())
	default:
	}
	n := ep.Concurrency
	if n < 1 {
		n = t.cfg.Prefetch
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{
		t:        t,
		ep:       ep,
		queue:    queue,
		exchange: t.cfg.Exchange,
		bindings: ep.Bindings,
		tag:      "topicrpc-" + rand.Text(),
		h:        h,
		log:      t.log.With("queue", queue, "server", ep.Name),
		ctx:      hctx,
		cancel:   cancel,
		workers:  n,
		done:     make(chan struct{}),
	}
	subs := subscriptions{s}
	for _, g := range ep.WorkGroups {
		subs = append(subs, t.newWorkSub(ctx, ep, g, h))
	}
	setup := func() error { return setupAll(subs) }
	abandon := func() {
		for _, x := range subs {
			x.closeChannel()
		}
	}
	if err := runCtx(ctx, setup, abandon); err != nil {
		for _, x := range subs {
			x.cancel()
		}
		return nil, err
	}
	for _, x := range subs {
		if !t.addSub(x) {
			for _, x := range subs {
				x.abort()
			}
			return nil, fmt.Errorf("amqp: serve %s: %w", queue, ports.ErrClosed)
		}
	}
	for _, x := range subs {
		x.start()
	}
	s.log.Info("amqp: serving", "bindings", ep.Bindings, "work_groups", ep.WorkGroups, "concurrency", n)
	if len(subs) == 1 {
		return s, nil
	}
	return subs, nil
}

// checkEndpoint reports why ep cannot be served, wrapping ports.ErrBadEndpoint.
func (t *Transport) checkEndpoint(ep ports.Endpoint, queue string, h ports.Handler) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("amqp: serve %q: %w: %s", ep.Name, ports.ErrBadEndpoint, fmt.Sprintf(format, a...))
	}
	switch {
	case h == nil:
		return bad("no handler")
	case ep.Name == "":
		return bad("no server name")
	case !utf8.ValidString(ep.Name) || !utf8.ValidString(ep.Queue):
		return bad("names must be valid UTF-8")
	case len(ep.Name) > maxShortString:
		return bad("server name is %d bytes, at most %d allowed", len(ep.Name), maxShortString)
	case len(queue) > maxShortString:
		return bad("queue name %s is %d bytes, at most %d allowed with prefix %q", queue, len(queue), maxShortString, t.cfg.QueuePrefix)
	}
	for _, b := range ep.Bindings {
		if err := domain.ValidateBinding(b); err != nil {
			return bad("binding %q: %v", b, err)
		}
	}
	return t.checkWorkGroups(ep, bad)
}

// subscription is one running Serve, or one work group of it: a channel, a
// consumer and its workers.
type subscription struct {
	t        *Transport
	ep       ports.Endpoint
	queue    string
	exchange string   // the queue is bound to it with each of bindings
	bindings []string // topic patterns; the group for a work queue
	group    string   // the work group; empty for the server's own queue
	tag      string
	h        ports.Handler
	log      *slog.Logger
	workers  int

	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	closed     chan *amqp.Error // ch's NotifyClose
	cancelled  chan string      // ch's NotifyCancel

	ctx      context.Context // parent of the handlers' contexts
	cancel   context.CancelFunc
	stopping atomic.Bool   // set by Close: requests not yet started go back to the queue
	gaveUp   atomic.Bool   // set when handlers in flight are cancelled: work queues requeue their requests
	done     chan struct{} // closed when every worker has returned

	// chMu is held for reading while ch carries an ack, a nack or a reply,
	// and for writing to mark it closing: a frame sent on a channel after
	// channel.close makes RabbitMQ close the whole connection (504
	// CHANNEL_ERROR), every other subscription on it included.
	chMu      sync.RWMutex
	chClosing bool // guarded by chMu; no frame goes out on ch once set

	closeOnce sync.Once
	closeErr  error
}

// setup opens the subscription's channel, declares and binds its queue, and
// starts consuming. A reconnecting supervisor can run it again.
func (s *subscription) setup() (err error) {
	ch, err := s.t.conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: serve %s: open channel: %w", s.queue, err)
	}
	defer func() {
		if err != nil {
			ch.Close()
		}
	}()
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
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
	if err := ch.Qos(s.workers, 0, false); err != nil {
		return fmt.Errorf("amqp: serve %s: set prefetch %d: %w", s.queue, s.workers, err)
	}
	deliveries, err := ch.Consume(s.queue, s.tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("amqp: consume queue %s: %w", s.queue, err)
	}
	s.ch, s.deliveries, s.closed, s.cancelled = ch, deliveries, closed, cancelled
	return nil
}

// start runs the workers and the channel watcher.
func (s *subscription) start() {
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			for d := range s.deliveries {
				s.handle(&d)
			}
		})
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	go func() {
		select {
		case e, ok := <-s.closed:
			if ok && e != nil {
				// Unacked requests go back to the queue; replies can no
				// longer be sent, so stop the handlers.
				if s.t.conn.IsClosed() {
					s.log.Warn("amqp: no longer serving: connection lost")
				} else {
					s.log.Error("amqp: subscription channel closed by the broker; no longer serving", "error", e)
				}
				s.gaveUp.Store(true)
				s.cancel()
			}
		case _, ok := <-s.cancelled:
			if ok {
				s.log.Error("amqp: broker cancelled the consumer (queue deleted?); no longer serving")
			}
		}
	}()
}

// handle runs one delivery to completion and settles it.
func (s *subscription) handle(d *amqp.Delivery) {
	if s.stopping.Load() {
		// Prefetched but not started: give it to another consumer.
		s.settle(d, settleRequeue)
		return
	}
	req, err := decodeRequest(d)
	if err != nil {
		s.log.Warn("amqp: rejected a malformed request", "reason", err, "call_id", truncate(d.CorrelationId, 64),
			"command", truncate(d.Type, 64), "redelivered", d.Redelivered)
		if d.CorrelationId != "" && d.ReplyTo != "" {
			s.replyError(d, domain.CodeBadRequest, err.Error())
		}
		s.settle(d, settleReject)
		return
	}
	if now := time.Now(); req.Expired(now) {
		s.log.Debug("amqp: request expired before it was taken", "call_id", req.ID,
			"late", now.Sub(req.Deadline).String())
		s.replyError(d, domain.CodeExpired, fmt.Sprintf("request expired %v before %s took it",
			now.Sub(req.Deadline).Round(time.Millisecond), s.ep.Name))
		s.settle(d, settleAck)
		return
	}
	req.Balanced = s.group != ""
	ctx, cancel := s.ctx, context.CancelFunc(nil)
	if !req.Deadline.IsZero() {
		ctx, cancel = context.WithDeadline(s.ctx, req.Deadline)
	}
	rw := &replyWriter{s: s, callID: req.ID, replyTo: d.ReplyTo}
	start := time.Now()
	s.run(ctx, req, guardedReply{rw}, start)
	rw.finished.Store(true)
	if cancel != nil {
		cancel()
	}
	if s.group != "" && s.gaveUp.Load() {
		// Close gave up on the handler: the request goes back to the work
		// queue for another consumer (the broker would requeue it anyway
		// when the channel closes), never acknowledged half done.
		s.settle(d, settleRequeue)
		return
	}
	s.settle(d, settleAck)
}

// run calls the handler, turning a panic into an error reply.
func (s *subscription) run(ctx context.Context, req *domain.Request, rw ports.ReplyWriter, start time.Time) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("amqp: handler panicked", "call_id", req.ID, "command", req.Command.Name,
				"panic", v, "stack", string(debug.Stack()))
			r := domain.Reply{Kind: domain.KindResult, Code: domain.CodePanic,
				Error: fmt.Sprintf("%s panicked: %v", req.Command.Name, v), Elapsed: time.Since(start)}
			if err := rw.Reply(context.WithoutCancel(ctx), r); err != nil {
				s.log.Warn("amqp: could not report a panic", "call_id", req.ID, "error", err)
			}
		}
	}()
	s.h(ctx, req, rw)
}

// replyError answers d with an error result, without a handler.
func (s *subscription) replyError(d *amqp.Delivery, code, msg string) {
	rw := guardedReply{&replyWriter{s: s, callID: d.CorrelationId, replyTo: d.ReplyTo}}
	r := domain.Reply{Kind: domain.KindResult, Code: code, Error: msg}
	if err := rw.Reply(s.ctx, r); err != nil {
		s.log.Warn("amqp: could not send an error reply", "call_id", truncate(d.CorrelationId, 64), "code", code, "error", err)
	}
}

// settlement is what settle does with a delivery.
type settlement uint8

const (
	settleAck     settlement = iota // done: remove it from the queue
	settleRequeue                   // not done: back to the queue for any consumer
	settleReject                    // unusable: drop it
)

// settle acknowledges, requeues or rejects d, unless the channel is closing:
// then the broker requeues d when the channel closes. A failure is logged;
// the broker then redelivers the request once the channel closes.
func (s *subscription) settle(d *amqp.Delivery, how settlement) {
	s.chMu.RLock()
	defer s.chMu.RUnlock()
	if s.chClosing {
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
	if err != nil && !s.stopping.Load() {
		s.log.Warn("amqp: could not "+what+" a request; the broker will redeliver it", "error", err)
	}
}

// guardedReply is the ReplyWriter of a request taken from s's queue: it
// publishes only while the channel is open (see chMu) and, for a work queue,
// only until Close gives up on the handlers, whose requests go back to the
// queue for another consumer to answer.
type guardedReply struct{ *replyWriter }

// Reply implements ports.ReplyWriter.
func (w guardedReply) Reply(ctx context.Context, r domain.Reply) error {
	s := w.s
	s.chMu.RLock()
	defer s.chMu.RUnlock()
	switch {
	case s.group != "" && s.gaveUp.Load():
		return fmt.Errorf("amqp: reply to %s: the request went back to work queue %s when the subscription stopped", w.callID, s.queue)
	case s.chClosing:
		return fmt.Errorf("amqp: reply to %s: subscription closed: %w", w.callID, amqp.ErrClosed)
	}
	return w.replyWriter.Reply(ctx, r)
}

// Close cancels the consumer (basic.cancel), so the broker sends no more
// requests; those already prefetched but not started go back to the queue.
// It then waits for the handlers in flight until ctx ends, cancels their
// context, and closes the channel: the requests of handlers still running
// are not acknowledged and go back to the queue (for a work queue, even if
// the handler returns before the channel is closed, and its replies are
// refused from then on). It returns ctx's error, wrapped, when handlers were
// still running. It is idempotent.
func (s *subscription) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *subscription) close(ctx context.Context) error {
	s.stopping.Store(true)
	defer s.t.removeSub(s)
	err := runCtx(ctx, func() error { return s.ch.Cancel(s.tag, false) }, func() {})
	if err != nil && !errors.Is(err, amqp.ErrClosed) && ctx.Err() == nil {
		s.log.Warn("amqp: could not cancel the consumer", "error", err)
	}
	select {
	case <-s.done:
		err = nil
	case <-ctx.Done():
		err = fmt.Errorf("amqp: close subscription %s: handlers still running: %w", s.queue, ctx.Err())
		s.gaveUp.Store(true)
	}
	s.cancel()
	// Closing waits for the broker's close-ok; do not wait past ctx for it.
	closed := make(chan struct{})
	go func() {
		s.closeChannel()
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
	s.stopping.Store(true)
	s.gaveUp.Store(true)
	s.cancel()
}

func (s *subscription) closeChannel() {
	s.chMu.Lock() // waits for acks and replies being sent
	s.chClosing = true
	s.chMu.Unlock()
	if s.ch != nil {
		if err := s.ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			s.log.Debug("amqp: close channel", "error", err)
		}
	}
}
