package amqp

import (
	"context"
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

var _ ports.Transport = (*Transport)(nil)

// ErrConnectionLost is wrapped by the errors of Sends made after, or waiting
// when, the connection to the broker broke. The Transport does not reconnect
// yet: make a new one.
var ErrConnectionLost = errors.New("connection to the broker lost")

// Transport is a ports.Transport over one RabbitMQ connection.
//
// All methods are safe for concurrent use by many goroutines.
//
// Ordering: requests are published in the order Sends reach the channel, and
// each queue hands them out first in, first out (a redelivered request comes
// back out of order). The replies of one server to one call arrive in the
// order the server sent them. Nothing orders replies from different servers.
//
// Backpressure: Send blocks until the broker confirms the request, at most
// until its ctx ends, and waits (again at most until ctx ends) while the
// broker blocks publishers (connection.blocked, its memory or disk alarm).
// A server takes at most its endpoint's Concurrency requests at a time (the
// prefetch count); the rest wait in its queue on the broker, not in memory.
// Replies are consumed without acks and handed to sinks at once, which must
// not block.
//
// Failures: when the connection breaks, Sends in flight and later fail with
// ErrConnectionLost and subscriptions stop; unacknowledged requests go back
// to their queues. There is no automatic reconnection yet.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	conn   *amqp.Connection
	router *replyRouter
	pub    *publisher
	rq     *replyQueue // ReplyQueue mode only
	routes *routeView  // nil without a management URL
	gate   flowGate

	down     chan struct{} // closed when the transport is closed or its connection lost
	downOnce sync.Once
	downErr  error // why down closed; written once before closing down

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error

	mu   sync.Mutex
	subs map[*subscription]struct{} // nil once closed

	wg sync.WaitGroup // the transport's own goroutines; all end when conn closes

	workDecl workExchangeDecl // the work exchange, declared by the first balanced Send (work.go)

	presence presenceState // the presence exchange, declared on first use (presence.go)
}

// New connects to the broker at cfg.URL, declares the exchange and starts
// consuming replies. Connecting is bounded by cfg.DialTimeout and ctx; ctx
// only bounds New, not the Transport's life. Close the Transport when done.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	routes, err := newRouteView(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:    cfg,
		log:    cfg.Logger,
		conn:   conn,
		router: newReplyRouter(cfg.Logger),
		routes: routes,
		down:   make(chan struct{}),
		subs:   make(map[*subscription]struct{}),
	}
	t.watchConnection()
	if err := runCtx(ctx, t.setup, func() {}); err != nil {
		conn.Close() // ends setup, if still running, and every goroutine it started
		return nil, fmt.Errorf("amqp: set up on %s: %w", RedactURL(cfg.URL), err)
	}
	t.log.Info("amqp: connected", "url", RedactURL(cfg.URL), "exchange", cfg.Exchange,
		"reply_mode", cfg.ReplyMode.String())
	return t, nil
}

// setup declares the exchange and opens the publisher and reply consumer on
// t.conn. It is all the per-connection state of the client side, so a
// reconnecting supervisor can run it again on a new connection.
func (t *Transport) setup() error {
	if err := declareExchange(t.conn, t.cfg.Exchange); err != nil {
		return err
	}
	replyTo := directReplyTo
	if t.cfg.ReplyMode == ReplyQueue {
		rq, replies, err := consumeReplyQueue(t.conn, t.cfg.QueuePrefix)
		if err != nil {
			return err
		}
		t.rq, replyTo = rq, rq.name
		t.goRoute(replies)
	}
	pub, replies, err := openPublisher(t.conn, t.cfg.Exchange, replyTo, t.cfg.ReplyMode == ReplyDirect)
	if err != nil {
		return err
	}
	t.pub = pub
	if replies != nil {
		t.goRoute(replies)
	}
	t.wg.Go(func() {
		if e := pub.watch(); e != nil {
			t.log.Error("amqp: publishing channel closed by the broker; Sends will fail", "error", e)
		}
	})
	return nil
}

// goRoute routes replies from deliveries until that channel closes.
func (t *Transport) goRoute(deliveries <-chan amqp.Delivery) {
	t.wg.Go(func() { t.router.run(deliveries) })
}

// declareExchange declares the durable topic exchange requests go to, on a
// short-lived channel: a failed declaration closes its channel.
func declareExchange(conn *amqp.Connection, name string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("amqp: declare exchange %s: %w", name, err)
	}
	return nil
}

// watchConnection logs and acts on the connection's closing and blocking.
func (t *Transport) watchConnection() {
	closes := t.conn.NotifyClose(make(chan *amqp.Error, 1))
	blocks := t.conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	t.wg.Go(func() {
		for {
			select {
			case b, ok := <-blocks:
				if !ok {
					blocks = nil
					continue
				}
				if b.Active {
					t.log.Warn("amqp: broker blocks publishing; Sends wait", "reason", b.Reason)
				} else {
					t.log.Info("amqp: broker unblocked publishing")
				}
				t.gate.set(b.Active)
			case e, ok := <-closes:
				if ok && e != nil {
					t.log.Error("amqp: connection lost", "error", e)
					t.setDown(fmt.Errorf("%w: %w", ErrConnectionLost, e))
				} else {
					t.setDown(ErrConnectionLost)
				}
				t.gate.set(false)
				return
			}
		}
	})
}

// setDown makes Sends in flight and later fail with err, once.
func (t *Transport) setDown(err error) {
	t.downOnce.Do(func() {
		t.downErr = err
		close(t.down)
	})
}

// failure returns why the transport is down; call it only after down closed.
func (t *Transport) failure() error { return t.downErr }

// Send publishes req to the exchange with routing key req.Target and the
// mandatory flag, and waits for the broker's confirm. The sink is registered
// first. It returns an error wrapping ports.ErrNoRoute when the broker
// returned the request because no queue's binding matched; ports.ErrQueueFull
// when the broker refused it (basic.nack, which RabbitMQ sends when a queue
// is at its length limit with reject-publish overflow; the queue names are
// not available over AMQP); ports.ErrClosed after Close; ErrConnectionLost
// after the connection broke; ctx.Err() when ctx ended first. A request whose
// Send failed for ctx or the connection may still have been routed.
//
// The request expires in every queue at req.Deadline (per-message TTL), so no
// server starts it after then, even one that was down when it was sent.
//
// A balanced request (req.Balanced) is published instead to the direct
// exchange Exchange+".work" (declared by the first balanced Send) with
// routing key req.Target, persistent (delivery mode 2), with the same
// properties otherwise: it reaches the work queue of group req.Target, and
// ports.ErrNoRoute means no server ever declared that group's work queue.
func (t *Transport) Send(ctx context.Context, req *domain.Request, sink ports.ReplySink) error {
	t.router.register(req.ID, sink)
	if t.closed.Load() {
		return fmt.Errorf("send %s: %w", req.Target, ports.ErrClosed)
	}
	select {
	case <-t.down:
		return fmt.Errorf("send %s: %w", req.Target, t.failure())
	default:
	}
	msg, err := encodeRequest(req, t.pub.replyTo, time.Now())
	if err != nil {
		return fmt.Errorf("send %s: %w", req.Target, err)
	}
	if err := t.gate.wait(ctx, t.down, t.failure); err != nil {
		return t.sendError(req.Target, err)
	}
	exchange := t.cfg.Exchange
	if req.Balanced {
		if exchange, err = t.balance(ctx, &msg); err != nil {
			return t.sendError(req.Target, err)
		}
	}
	returned, err := t.pub.publish(ctx, exchange, req.Target, &msg, t.down, t.failure)
	if err != nil {
		return t.sendError(req.Target, err)
	}
	switch {
	case returned && req.Balanced:
		return fmt.Errorf("send %s: %w (no work queue for group %s)", req.Target, ports.ErrNoRoute, req.Target)
	case returned:
		return fmt.Errorf("send %s: %w %s", req.Target, ports.ErrNoRoute, req.Target)
	}
	return nil
}

// sendError wraps a failed publish.
func (t *Transport) sendError(target string, err error) error {
	if errors.Is(err, errNacked) {
		return fmt.Errorf("send %s: %w; a queue it routes to is probably full: %w", target, err, ports.ErrQueueFull)
	}
	return fmt.Errorf("send %s: %w", target, err)
}

// Forget stops handing replies for callID to its sink. A reply being handed
// over while Forget runs may still reach the sink; none routed after Forget
// returns does.
func (t *Transport) Forget(callID string) { t.router.forget(callID) }

// DroppedReplies returns how many replies arrived for no registered call
// (late, duplicated or malformed) since New.
func (t *Transport) DroppedReplies() uint64 { return t.router.dropped.Load() }

// Close closes the connection, waiting at most Config.DialTimeout for the
// broker to confirm. Sends in flight fail with ports.ErrClosed.
// Subscriptions stop at once: their handlers' contexts are cancelled and the
// requests they hold, not yet acknowledged, go back to their queues for
// another consumer. Close does not wait for handlers; close subscriptions
// first (Subscription.Close) to drain them gracefully. Close is idempotent.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.setDown(ports.ErrClosed)
		t.mu.Lock()
		subs := t.subs
		t.subs = nil
		t.mu.Unlock()
		for s := range subs {
			s.abort()
		}
		// Bounded: an unresponsive broker never answers connection.close.
		if err := t.conn.CloseDeadline(time.Now().Add(t.cfg.DialTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
			t.closeErr = fmt.Errorf("amqp: close connection: %w", err)
		}
		t.wg.Wait()
		t.log.Info("amqp: closed", "dropped_replies", t.router.dropped.Load())
	})
	return t.closeErr
}

// addSub records a running subscription; it fails once the transport is closed.
func (t *Transport) addSub(s *subscription) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		return false
	}
	t.subs[s] = struct{}{}
	return true
}

func (t *Transport) removeSub(s *subscription) {
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
}

// runCtx runs fn, which may block on the broker, and waits for it or for ctx.
// When ctx ends first it returns ctx.Err() at once and calls abandon once fn
// has returned, to release what fn set up.
func runCtx(ctx context.Context, fn func() error, abandon func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				abandon()
			}
		}()
		return ctx.Err()
	}
}
