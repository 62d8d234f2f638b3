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

// Transport is a ports.Transport over one RabbitMQ connection at a time,
// and, once it serves, a second one: the probe connection (replyguard.go),
// over which the first reply to each direct reply-to node goes, and which a
// poisonous reply-to may close in the serving connection's stead.
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
// Failures: the Transport reconnects by itself when its connection breaks
// (a broker restart, a dropped network), until it is closed. A supervisor
// redials with exponential backoff (100 ms doubling to 10 s, each wait
// ±20%), then declares the exchange and opens the publisher and reply
// consumer again; every Serve subscription declares and binds its queue and
// work queues again and resumes consuming, and every WatchPresence gets a
// new exclusive queue (the package documentation, Reconnection, says why
// this is not amqp091-go's own recovery). Phase by phase:
//
//   - Connection lost: Sends and Announces waiting for a confirm fail at
//     once with ErrConnectionLost (the request may or may not have been
//     routed). Replies to calls already sent are lost: the caller hears
//     nothing more from them, and its deadline ends them (servers reported
//     silent); sinks are not told. Handlers in flight have their context
//     cancelled; their replies cannot be sent, their requests are not
//     acknowledged, and the broker requeues them for another consumer or for
//     this server once it is back (at least once).
//   - Reconnecting: Send, Announce, Serve and WatchPresence wait for the new
//     connection until ctx ends (Send also until the request's deadline), then
//     fail with an error wrapping ErrConnectionLost (so ports.ErrUnavailable)
//     and ctx's error. A call whose deadline allows completes after recovery.
//   - Reconnected: everything works again; presence watchers see the
//     announcers' next heartbeat.
//   - Closed: every call fails at once with ports.ErrClosed, the supervisor
//     stops, even in the middle of a backoff.
//
// Logs: "amqp: connection lost" (warn, with the error), "amqp: reconnecting"
// (info: attempt, backoff, last error), "amqp: reconnected" (info: downtime,
// attempts), and per subscription "amqp: serving again" (info).
type Transport struct {
	cfg    Config
	dialer *dialer // the Transport's own connection is dialled through it
	jobsD  *dialer // the results store's (jobs_conn.go), named apart
	log    *slog.Logger
	router *replyRouter // shared by every connection: sinks outlive a reconnection
	guard  *replyGuard  // where replies to direct reply-to addresses may go (replyguard.go)
	routes *routeView   // nil without a management URL

	ctx  context.Context // ends when Close begins: stops the supervisor and every wait for a connection
	stop context.CancelFunc

	closeOnce sync.Once
	closed    atomic.Bool // set under mu
	closeErr  error

	mu      sync.Mutex
	link    *link                  // the connection in use; the supervisor replaces it once lost
	changed chan struct{}          // closed when link is replaced
	subs    map[*consumer]struct{} // the running Serves' and WatchPresences' consumers; nil once closed

	wg sync.WaitGroup // the transport's own goroutines: all end once Close has closed the connection

	regWrite chan struct{} // a token: one register write of this Transport at a time (register.go)

	mismatched mismatches  // queues found declared with other arguments, reported once each (queues.go)
	regChecked atomic.Bool // a writer checked the register queue's arguments (register.go)

	jobw jobWriter // the records waiting for the results stream (jobs_writer.go)
	jc   jobsConn  // the results store's own connection (jobs_conn.go)
}

// New connects to a broker of cfg.URL and cfg.URLs (the first that
// answers, see Config.OrderedURLs), declares the exchange and starts
// consuming replies. Connecting is bounded by cfg.DialTimeout per broker and
// by ctx; ctx only bounds New, not the Transport's life. Close the Transport
// when done.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d, err := newDialer(cfg, nil)
	if err != nil {
		return nil, err
	}
	jd, err := newDialer(cfg.named(" (results store)"), nil)
	if err != nil {
		return nil, err
	}
	routes, err := newRouteView(cfg)
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:      cfg,
		dialer:   d,
		jobsD:    jd,
		log:      cfg.Logger,
		router:   newReplyRouter(cfg.Logger),
		routes:   routes,
		changed:  make(chan struct{}),
		subs:     make(map[*consumer]struct{}),
		regWrite: make(chan struct{}, 1),
	}
	t.ctx, t.stop = context.WithCancel(context.Background())
	if t.guard, err = newReplyGuard(t.ctx, cfg); err != nil {
		t.stop()
		return nil, err
	}
	if cfg.PrepareJobs {
		t.wg.Go(t.prepareJobs)
	}
	l, err := t.connect(ctx)
	if err != nil {
		t.closed.Store(true)
		t.stop()
		t.wg.Wait()
		t.closeJobsLink()
		return nil, err
	}
	t.link = l
	t.wg.Go(func() { t.supervise(l) })
	t.log.Info("amqp: connected", "url", l.node, "exchange", cfg.Exchange,
		"reply_mode", cfg.ReplyMode.String(), "queue_types", cfg.queueTypes())
	return t, nil
}

// Node returns the URL (redacted) of the broker the Transport is connected
// to, or was last connected to while it reconnects: with several brokers
// (Config.URLs), the cluster node in use.
func (t *Transport) Node() string {
	l, _ := t.current()
	return l.node
}

// setup declares the exchange and opens the publisher and reply consumer on
// l's connection: all the per-connection state of the client side, which
// the supervisor sets up again on every new connection.
func (t *Transport) setup(l *link) error {
	if err := declareExchange(l.conn, t.cfg.Exchange); err != nil {
		return err
	}
	replyTo := directReplyTo
	if t.cfg.ReplyMode == ReplyQueue {
		// A new name on every connection: the broker may not have deleted
		// the last connection's exclusive queue yet.
		rq, replies, err := consumeReplyQueue(l.conn, t.cfg.QueuePrefix)
		if err != nil {
			return err
		}
		l.rq, replyTo = rq, rq.name
		t.goRoute(replies)
	}
	pub, replies, err := openPublisher(l, t.cfg.Exchange, replyTo, t.cfg.ReplyMode == ReplyDirect)
	if err != nil {
		return err
	}
	l.pub = pub
	if replies != nil {
		t.goRoute(replies)
	}
	t.wg.Go(func() {
		if e := pub.watch(); e != nil {
			t.log.Error("amqp: publishing channel closed by the broker; Sends fail until the connection is replaced", "error", e)
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
	_, err := declareOrFind(conn, name, amqp.ExchangeTopic)
	return err
}

// declareOrFind declares the durable exchange name of kind on a channel of
// its own, or, when the account may not (ACCESS_REFUSED: a caller account,
// see LeastPrivilege), checks that it exists, declared by the servers. It
// reports whether it only found it.
func declareOrFind(conn *amqp.Connection, name, kind string) (found bool, err error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("amqp: open channel: %w", err)
	}
	defer func() { _ = ch.Close() }()
	err = ch.ExchangeDeclare(name, kind, true, false, false, false, nil)
	var e *amqp.Error
	if !errors.As(err, &e) || e.Code != amqp.AccessRefused {
		if err != nil {
			return false, fmt.Errorf("amqp: declare exchange %s: %w", name, err)
		}
		return false, nil
	}
	if ch, err = conn.Channel(); err != nil { // the refusal closed the last one
		return false, fmt.Errorf("amqp: open channel: %w", err)
	}
	if err := ch.ExchangeDeclarePassive(name, kind, true, false, false, false, nil); err != nil {
		return false, fmt.Errorf("amqp: exchange %s: this account may not declare it, and it does not exist (start a server first): %w", name, err)
	}
	return true, nil
}

// Send publishes req to the exchange with routing key req.Target and the
// mandatory flag, and waits for the broker's confirm. The sink is registered
// first. It returns an error wrapping ports.ErrNoRoute when the broker
// returned the request because no queue's binding matched; ports.ErrQueueFull
// when the broker refused it (basic.nack, which RabbitMQ sends when a queue
// is at its length limit with reject-publish overflow; the queue names are
// not available over AMQP); ports.ErrClosed after Close; ErrConnectionLost
// (which matches ports.ErrUnavailable) when the connection broke while the
// Send waited for its confirm, or when ctx or req.Deadline ended while the
// Transport was reconnecting (joined with ctx's error); ctx.Err() when ctx
// ended first otherwise. While the Transport reconnects, Send waits for the
// new connection, so a call whose deadline allows completes after recovery;
// a request the broken connection never carried is sent on the new one.
// A request whose Send failed for ctx or the connection may still have been
// routed.
//
// The request expires in every queue at req.Deadline (per-message TTL), so no
// server starts it after then, even one that was down when it was sent.
//
// A balanced request (req.Balanced) is published instead to the direct
// exchange Exchange+".work" (declared by the first balanced Send on each
// connection) with
// routing key req.Target, persistent (delivery mode 2), with the same
// properties otherwise: it reaches the work queue of group req.Target, and
// ports.ErrNoRoute means no server ever declared that group's work queue.
func (t *Transport) Send(ctx context.Context, req *domain.Request, sink ports.ReplySink) error {
	t.router.register(req.ID, sink)
	if t.closed.Load() {
		return fmt.Errorf("send %s: %w", req.Target, ports.ErrClosed)
	}
	if err := checkBody(len(req.Command.Args), t.cfg.MaxBody); err != nil {
		return fmt.Errorf("send %s: %w: %w", req.Target, domain.ErrBadCommand, err)
	}
	var returned bool
	for {
		l, err := t.awaitLinkBy(ctx, req.Deadline)
		if err != nil {
			return fmt.Errorf("send %s: %w", req.Target, err)
		}
		returned, err = t.sendOn(ctx, l, req)
		if err == nil {
			break
		}
		if errors.Is(err, errUnsent) && l.down() && ctx.Err() == nil {
			continue // it never left: send it on the next connection
		}
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

// sendOn publishes req on l and waits for the confirm. An error wrapping
// errUnsent means the request was not published: the connection broke
// before it was written.
func (t *Transport) sendOn(ctx context.Context, l *link, req *domain.Request) (returned bool, err error) {
	msg, err := encodeRequest(req, l.pub.replyTo, time.Now())
	if err != nil {
		return false, err
	}
	exchange := t.cfg.Exchange
	if req.Balanced {
		if exchange, err = t.balance(ctx, l, &msg); err != nil {
			if l.down() {
				err = fmt.Errorf("%w: %w", errUnsent, err)
			}
			return false, err
		}
	}
	return l.pub.publish(ctx, exchange, req.Target, &msg, true)
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
// broker to confirm, and stops reconnecting (also in the middle of a
// backoff). Sends in flight, and those waiting for a reconnection, fail
// with ports.ErrClosed.
// Subscriptions stop at once: their handlers' contexts are cancelled and the
// requests they hold, not yet acknowledged, go back to their queues for
// another consumer. Close does not wait for handlers; close subscriptions
// first (Subscription.Close) to drain them gracefully. Close is idempotent.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed.Store(true)
		l := t.link
		subs := t.subs
		t.subs = nil
		t.mu.Unlock()
		t.stop() // first: the supervisor must not take the link's loss for a failure
		l.markLost(ports.ErrClosed)
		for c := range subs {
			c.abort()
		}
		// Bounded: an unresponsive broker never answers connection.close.
		if err := l.conn.CloseDeadline(time.Now().Add(t.cfg.DialTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
			t.closeErr = fmt.Errorf("amqp: close connection: %w", err)
		}
		t.closeJobsLink()
		t.guard.close()
		t.wg.Wait()
		t.log.Info("amqp: closed", "dropped_replies", t.router.dropped.Load())
	})
	return t.closeErr
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
