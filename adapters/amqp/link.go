package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/ports"
)

// Reconnection backoff: the first attempt waits about reconnectMin, each
// failed one doubles the wait up to reconnectMax, and every wait is spread
// by ±reconnectJitter so that a fleet whose broker restarted does not
// reconnect in lockstep.
const (
	reconnectMin    = 100 * time.Millisecond
	reconnectMax    = 10 * time.Second
	reconnectJitter = 0.2
)

// ErrUnavailable is ports.ErrUnavailable: every error about a lost
// connection matches it (errors.Is), ErrConnectionLost included.
var ErrUnavailable = ports.ErrUnavailable

// ErrConnectionLost is wrapped by the errors of Sends and Announces in flight
// when the connection to the broker broke, and of calls (Send, Announce,
// Serve, WatchPresence) whose ctx or request deadline ended while the
// Transport was reconnecting. It matches ports.ErrUnavailable too.
var ErrConnectionLost error = connectionLost{}

type connectionLost struct{}

func (connectionLost) Error() string        { return "connection to the broker lost" }
func (connectionLost) Is(target error) bool { return target == ports.ErrUnavailable }

// link is one connection to the broker with the client side set up on it:
// the exchange declared, the publisher and the reply consumer. The
// supervisor replaces a lost link with a new one; nothing set up on a link
// moves to the next: Sends, subscriptions and watchers each set themselves
// up again on it.
type link struct {
	conn *amqp.Connection
	node string // the broker's URL, redacted
	pub  *publisher
	rq   *replyQueue // ReplyQueue mode only
	gate flowGate    // the broker's connection.blocked, for this connection

	lost     chan struct{} // closed when the connection is lost or the Transport closes
	lostOnce sync.Once
	lostErr  error // why lost closed; written once before closing it

	workDecl workExchangeDecl // the work exchange, declared on this connection (work.go)
	presence presenceState    // the presence exchanges, likewise (presence.go)
	jobs     jobsDecl         // the results store, likewise (jobs.go)
	watchers chanHolder       // the channel the presence watchers share on this connection (shared.go)
	claims   claimSet         // the claims of balanced requests held on this connection (claims.go)
}

func newLink(conn *amqp.Connection, node string) *link {
	return &link{conn: conn, node: node, lost: make(chan struct{})}
}

// markLost records why the link is unusable, once, and wakes everything
// waiting on it.
func (l *link) markLost(err error) {
	l.lostOnce.Do(func() {
		l.lostErr = err
		close(l.lost)
	})
}

// failure returns why the link is lost; call it only after lost closed.
func (l *link) failure() error { return l.lostErr }

// down reports whether the link is lost, or about to be marked so: its
// connection is closed but the watcher has not caught up yet.
func (l *link) down() bool {
	select {
	case <-l.lost:
		return true
	default:
		return l.conn.IsClosed()
	}
}

// current returns the link in use and a channel closed when it is replaced.
func (t *Transport) current() (*link, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.link, t.changed
}

// awaitLink returns the live link, waiting while the supervisor reconnects.
// It fails with ports.ErrClosed once the Transport is closed, and with an
// error wrapping the connection's loss (ErrConnectionLost) and ctx.Err()
// when ctx ends first.
func (t *Transport) awaitLink(ctx context.Context) (*link, error) {
	for {
		if t.ctx.Err() != nil {
			return nil, ports.ErrClosed
		}
		l, changed := t.current()
		if !l.down() {
			return l, nil
		}
		select {
		case <-changed:
		case <-t.ctx.Done():
			return nil, ports.ErrClosed
		case <-ctx.Done():
			why := error(ErrConnectionLost)
			select {
			case <-l.lost:
				why = l.failure()
			default:
			}
			if errors.Is(why, ports.ErrClosed) {
				return nil, ports.ErrClosed
			}
			return nil, fmt.Errorf("%w; still reconnecting: %w", why, ctx.Err())
		}
	}
}

// awaitLinkBy is awaitLink bounded by deadline too, when it is not zero:
// waiting past a request's deadline is pointless, whatever its ctx allows.
func (t *Transport) awaitLinkBy(ctx context.Context, deadline time.Time) (*link, error) {
	if l, _ := t.current(); !l.down() && t.ctx.Err() == nil {
		return l, nil // the common case: no context to make
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return t.awaitLink(ctx)
}

// connect dials a broker (t.dialer: the next that answers) and sets up the
// client side on the new connection, all bounded by ctx.
func (t *Transport) connect(ctx context.Context) (*link, error) {
	conn, node, err := t.dialer.dial(ctx)
	if err != nil {
		return nil, err
	}
	l := newLink(conn, node)
	t.watchLink(l)
	if err := runCtx(ctx, func() error { return t.setup(l) }, func() {}); err != nil {
		conn.Close() // ends setup, if still running, and every goroutine it started
		return nil, fmt.Errorf("amqp: set up on %s: %w", node, err)
	}
	return l, nil
}

// watchLink marks l lost when its connection closes, and holds publishing
// back while the broker blocks it (connection.blocked), logging both.
func (t *Transport) watchLink(l *link) {
	closes := l.conn.NotifyClose(make(chan *amqp.Error, 1))
	blocks := l.conn.NotifyBlocked(make(chan amqp.Blocking, 4))
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
				l.gate.set(b.Active)
			case e, ok := <-closes:
				if ok && e != nil {
					l.markLost(fmt.Errorf("%w: %w", ErrConnectionLost, e))
				} else {
					l.markLost(ErrConnectionLost)
				}
				l.gate.set(false)
				return
			}
		}
	})
}

// supervise replaces each lost link with a new connection until the
// Transport closes: it redials with exponential backoff and jitter,
// unbounded in time, and sets the client side up again. Subscriptions and
// presence watchers follow by themselves (see redo). The backoff starts
// afresh only after a connection that lasted reconnectMax: one that keeps
// breaking at once (say, a message that crashes it on every delivery) is
// redialled at most every reconnectMax, not in a tight loop. It logs one
// line per event: the loss (warn), each attempt (info) and the recovery
// (info).
func (t *Transport) supervise(l *link) {
	b := newBackoff()
	upSince := time.Now()
	for {
		select {
		case <-l.lost:
		case <-t.ctx.Done():
			return
		}
		if t.ctx.Err() != nil || errors.Is(l.failure(), ports.ErrClosed) {
			return
		}
		t.log.Warn("amqp: connection lost", "url", l.node, "error", l.failure(), "up_for", time.Since(upSince).Round(time.Millisecond).String())
		if t.cfg.Observer != nil {
			t.cfg.Observer.ConnectionLost(l.failure())
		}
		lostAt := time.Now()
		if lostAt.Sub(upSince) >= reconnectMax {
			b = newBackoff()
		}
		last := l.failure()
		var next *link
		attempt := 0
		for next == nil {
			attempt++
			wait := b.next()
			t.log.Info("amqp: reconnecting", "attempt", attempt, "backoff", wait.Round(time.Millisecond).String(),
				"urls", t.dialer.String(), "last_error", last)
			if !sleepCtx(t.ctx, wait) {
				return
			}
			// Each broker within DialTimeout, and setup within one more.
			ctx, cancel := context.WithTimeout(t.ctx, t.dialer.budget()+t.cfg.DialTimeout)
			var err error
			next, err = t.connect(ctx)
			cancel()
			if err != nil {
				last = err
			}
		}
		if !t.install(next) {
			next.conn.Close() // Close came first
			return
		}
		upSince = time.Now()
		t.log.Info("amqp: reconnected", "url", next.node, "downtime", upSince.Sub(lostAt).Round(time.Millisecond).String(),
			"attempts", attempt)
		if t.cfg.Observer != nil {
			t.cfg.Observer.Reconnected()
		}
		l = next
	}
}

// install makes l the link in use, unless the Transport is closed.
func (t *Transport) install(l *link) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return false
	}
	t.link = l
	close(t.changed)
	t.changed = make(chan struct{})
	return true
}

// redo runs setup on the live link until it succeeds: it waits for the
// supervisor's new connection while the link is lost, and retries with
// backoff when setup fails on a live connection (logged as an error; at
// most notFoundRetryMax apart after a 404: a queue on a cluster node going
// down comes back the moment it is gone). It
// returns false, without running setup again, once quit ends or the
// Transport closes, or when setup returns errStopped.
func (t *Transport) redo(quit context.Context, log *slog.Logger, setup func(*link) error) bool {
	b := newBackoff()
	for attempt := 1; ; attempt++ {
		l, err := t.awaitLink(quit)
		if err != nil {
			return false
		}
		err = setup(l)
		switch {
		case err == nil:
			return true
		case errors.Is(err, errStopped):
			return false
		case l.down():
			continue // the next link, when the supervisor has it
		}
		wait := b.next()
		if isNotFound(err) {
			// A queue held by a cluster node that is stopping or down (404
			// "process is stopped by supervisor", "home node ... is down"):
			// it is declared again the moment the node is gone, so keep
			// asking often.
			wait = min(wait, notFoundRetryMax)
		}
		log.Error("amqp: could not set up again on the broker; retrying", "attempt", attempt,
			"retry_in", wait.Round(time.Millisecond).String(), "error", err)
		if !sleepCtx(quit, wait) || t.ctx.Err() != nil {
			return false
		}
	}
}

// notFoundRetryMax bounds redo's wait after a 404 from the broker.
const notFoundRetryMax = time.Second

// errStopped is returned by a setup passed to redo when the consumer
// stopped while it ran.
var errStopped = errors.New("stopped")

// backoff yields the reconnection waits: reconnectMin doubling up to
// reconnectMax, each spread by ±reconnectJitter.
type backoff struct{ cur time.Duration }

func newBackoff() *backoff { return &backoff{cur: reconnectMin} }

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, reconnectMax)
	return time.Duration(float64(d) * (1 + reconnectJitter*(2*rand.Float64()-1)))
}

// sleepCtx waits d, or less when ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
