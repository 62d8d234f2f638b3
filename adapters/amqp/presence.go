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

// Presence on the broker; doc.go has the topology and the message format.
const (
	// presenceSuffix names the presence exchange after the request exchange.
	presenceSuffix = ".presence"
	// querySuffix names the exchange of queries after the presence exchange.
	querySuffix = ".query"
	// PresencePrefetch is how many presence messages a watcher holds
	// unacknowledged in memory.
	PresencePrefetch = 64
	// PresenceQueueLength is how many more wait in a watcher's queue on the
	// broker; past it the broker drops the oldest (overflow drop-head).
	PresenceQueueLength = 256
	// PresenceQueueBytes bounds a watcher's queue in bytes too: the broker
	// drops the oldest past it, and never delivers a message larger than it,
	// so one huge hello cannot cost each watcher its size times the
	// prefetch. A real hello is well under 2 KiB.
	PresenceQueueBytes = 256 << 10
	// MaxPresenceBytes is the largest presence message a watcher decodes;
	// a larger one is skipped as malformed.
	MaxPresenceBytes = 64 << 10
)

// presenceState is the presence exchanges of one connection (link),
// declared on first use: a broker that restarted may have lost them. The
// zero value is ready to use.
type presenceState struct {
	declared atomic.Bool
	mu       sync.Mutex // serialises declarations
}

// presenceExchange returns the name of the fanout exchange hellos,
// heartbeats and goodbyes go through, to the rosters' watchers.
func (t *Transport) presenceExchange() string { return t.cfg.Exchange + presenceSuffix }

// queryExchange returns the name of the fanout exchange queries go through,
// to the servers' watchers (and on to the presence exchange).
func (t *Transport) queryExchange() string { return t.presenceExchange() + querySuffix }

// exchangeFor returns the exchange a watcher of want binds its queue to.
func (t *Transport) exchangeFor(want ports.PresenceInterest) string {
	if want == ports.WatchQueries {
		return t.queryExchange()
	}
	return t.presenceExchange()
}

// declarePresence declares the presence exchange and the query exchange,
// and binds the second to the first, unless that was already done on l's
// connection. Both are durable, so that every process declares them the
// same way, and never deleted automatically, so that an Announce never
// publishes to a missing exchange (which would close the publishing
// channel). The exchange-to-exchange binding hands every query to the
// presence exchange too: servers of versions that watch only that exchange
// still hear them. The declarations go over a short-lived channel: one
// that fails closes its channel.
func (t *Transport) declarePresence(l *link) error {
	if l.presence.declared.Load() {
		return nil
	}
	l.presence.mu.Lock()
	defer l.presence.mu.Unlock()
	if l.presence.declared.Load() {
		return nil
	}
	presence, query := t.presenceExchange(), t.queryExchange()
	if len(query) > maxShortString {
		return fmt.Errorf("amqp: presence exchange name %s is %d bytes, at most %d allowed: shorten the exchange name",
			query, len(query), maxShortString)
	}
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: open channel: %w", err)
	}
	defer ch.Close()
	for _, name := range []string{presence, query} {
		if err := ch.ExchangeDeclare(name, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
			return fmt.Errorf("amqp: declare exchange %s: %w", name, err)
		}
	}
	if err := ch.ExchangeBind(presence, "", query, false, nil); err != nil {
		return fmt.Errorf("amqp: bind exchange %s to exchange %s: %w", presence, query, err)
	}
	l.presence.declared.Store(true)
	return nil
}

// Announce publishes p on the publishing channel, as Send does a request
// but not mandatory (publisher.publish), and waits for the broker's
// confirm, at most until ctx ends: a query to the query exchange, which the
// servers' watchers (ports.WatchQueries) are bound to, any other kind to
// the presence exchange, which the rosters' watchers
// (ports.WatchAnnouncements) are bound to. The query exchange is bound to
// the presence exchange, so the rosters get the queries too. Every watcher's
// queue bound at that moment gets a copy; with none, the message is
// dropped, which is not an error. Messages announced by one Transport reach
// each watcher in the order their Announce calls reached the channel.
// Announce does not fill in p.Sent.
//
// It fails, wrapping ports.ErrClosed, after Close; ErrConnectionLost when the
// connection broke while it waited for the confirm, or when ctx ended while
// the Transport was reconnecting; with ctx's error when ctx ended first
// otherwise (the message may still have been published).
func (t *Transport) Announce(ctx context.Context, p domain.Presence) error {
	fail := func(err error) error { return fmt.Errorf("announce %s %q: %w", p.Kind, p.Server, err) }
	if t.closed.Load() {
		return fail(ports.ErrClosed)
	}
	msg, err := presenceMessage(p)
	if err != nil {
		return fail(err)
	}
	l, err := t.awaitLink(ctx)
	if err != nil {
		return fail(err)
	}
	if err := l.pub.broken(); err != nil {
		return fail(err)
	}
	if !l.presence.declared.Load() {
		if err := runCtx(ctx, func() error { return t.declarePresence(l) }, func() {}); err != nil {
			return fail(err)
		}
	}
	exchange := t.presenceExchange()
	if p.Kind == domain.PresenceQuery {
		exchange = t.queryExchange()
	}
	// Not mandatory: a message no watcher gets is not an error.
	if _, err := l.pub.publish(ctx, exchange, "", &msg, false); err != nil {
		if errors.Is(err, errNacked) {
			err = errors.New("broker refused the presence message (basic.nack)")
		}
		return fail(err)
	}
	return nil
}

// WatchPresence declares an exclusive, auto-delete queue bound to the query
// exchange (want is ports.WatchQueries: a server, which answers queries and
// hears nothing else) or to the presence exchange (ports.WatchAnnouncements:
// a roster, which gets every hello, heartbeat and goodbye, and the queries
// too), and consumes it; fn is called with each message, in the order the
// queue holds them, from one goroutine, never concurrently with itself.
// Messages of one announcer arrive in the order it announced them. A
// message that cannot be decoded is logged at debug level and skipped.
//
// The watchers of a Transport share one channel on each connection, each
// consumer with its own prefetch count (RabbitMQ applies basic.qos with
// global=false per consumer).
//
// Backpressure: announcers never wait for watchers. A watcher holds at most
// PresencePrefetch messages in memory (each is acknowledged after fn
// returns); up to PresenceQueueLength more wait in its queue on the broker,
// which drops the oldest past that, so a watcher that falls behind loses its
// oldest messages, not its newest, and never grows this process's memory.
//
// ctx bounds the setup only (it waits for the connection while the
// Transport reconnects). Transport.Close ends the watch too, and waits until
// a call to fn in progress returns. When the connection breaks, the watch
// goes on, after the reconnection, on a new queue: the messages announced
// in between are not seen, and the announcers' next heartbeats fill the gap.
func (t *Transport) WatchPresence(ctx context.Context, want ports.PresenceInterest, fn func(domain.Presence)) (ports.Subscription, error) {
	if fn == nil {
		return nil, errors.New("amqp: watch presence: fn is nil")
	}
	if want > ports.WatchQueries {
		return nil, fmt.Errorf("amqp: watch presence: unknown interest %v", want)
	}
	if t.closed.Load() {
		return nil, fmt.Errorf("amqp: watch presence: %w", ports.ErrClosed)
	}
	l, err := t.awaitLink(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp: watch presence: %w", err)
	}
	w := &presenceWatcher{
		t:        t,
		fn:       fn,
		exchange: t.exchangeFor(want),
		log:      t.log.With("presence", want.String()),
		done:     make(chan struct{}),
	}
	w.quitCtx, w.quit = context.WithCancel(t.ctx)
	var g *watchGen
	setup := func() (err error) {
		g, err = w.setup(l)
		return err
	}
	if err := runCtx(ctx, setup, func() { g.release() }); err != nil {
		w.quit()
		return nil, fmt.Errorf("amqp: watch presence: %w", err)
	}
	w.gen = g
	// Run the watcher as one of the transport's goroutines, so that Close
	// waits for it, unless Close has begun (t.subs is nil from then on).
	t.mu.Lock()
	if t.subs == nil {
		t.mu.Unlock()
		w.quit()
		g.release()
		return nil, fmt.Errorf("amqp: watch presence: %w", ports.ErrClosed)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		w.run(g)
	}()
	w.log.Debug("amqp: watching presence", "presence_queue", g.queue)
	return w, nil
}

// presenceWatcher is one WatchPresence: a consumer that outlives
// connections, with a new queue on each (watchGen).
type presenceWatcher struct {
	t        *Transport
	fn       func(domain.Presence)
	exchange string // the queue is bound to it
	log      *slog.Logger

	quitCtx  context.Context // ends when Close, or the Transport's, begins: ends a resumption in progress
	quit     context.CancelFunc
	stopping atomic.Bool   // set by Close (under mu): fn is not called again
	done     chan struct{} // closed when run returns

	mu  sync.Mutex
	gen *watchGen // the current queue and consumer

	closeOnce sync.Once
	closeErr  error
}

// watchGen is a watcher's queue and consumer on one connection, on the
// channel the connection's watchers share.
type watchGen struct {
	link        *link
	sc          *sharedChan
	queue       string
	tag         string
	deliveries  <-chan amqp.Delivery
	releaseOnce sync.Once
}

// setup declares a queue on l, binds it and starts consuming it on the
// channel l's watchers share.
func (w *presenceWatcher) setup(l *link) (g *watchGen, err error) {
	if err := w.t.declarePresence(l); err != nil {
		return nil, err
	}
	sc, err := l.watchers.acquire(l, w.t.log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			sc.release()
			// Declare the exchanges again next time: one may have been
			// deleted under this connection.
			l.presence.declared.Store(false)
		}
	}()
	name := w.t.cfg.QueuePrefix + "presence." + rand.Text()
	if len(name) > maxShortString {
		name = "" // the broker names it
	}
	args := amqp.Table{"x-max-length": int32(PresenceQueueLength), "x-overflow": "drop-head",
		"x-max-length-bytes": int64(PresenceQueueBytes)}
	var q amqp.Queue
	err = sc.rpc(func(ch *amqp.Channel) (err error) {
		if q, err = ch.QueueDeclare(name, false, true, true, false, args); err != nil {
			return fmt.Errorf("declare queue %s: %w", name, err)
		}
		if err := ch.QueueBind(q.Name, "", w.exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s to exchange %s: %w", q.Name, w.exchange, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tag := "topicrpc-presence-" + rand.Text()
	deliveries, err := sc.consume(q.Name, tag, PresencePrefetch, true)
	if err != nil {
		return nil, err
	}
	return &watchGen{link: l, sc: sc, queue: q.Name, tag: tag, deliveries: deliveries}, nil
}

// run calls fn for each delivery until the watcher stops. When a queue's
// deliveries end otherwise (the connection broke, the broker closed the
// channel or deleted the queue), it watches on a new queue, set up on the
// live connection once there is one; after a channel error, it first waits
// a backoff that starts afresh once a queue has lasted reconnectMax.
func (w *presenceWatcher) run(g *watchGen) {
	defer close(w.done)
	b := newBackoff()
	since := time.Now()
	for {
		w.consume(g)
		if w.stopping.Load() || w.t.closed.Load() {
			g.release()
			return
		}
		w.log.Debug("amqp: presence watch paused: consumer cancelled, channel closed or connection lost", "presence_queue", g.queue)
		g.release()
		if !g.link.down() { // the supervisor paces reconnections
			if time.Since(since) >= reconnectMax {
				b = newBackoff()
			}
			if !sleepCtx(w.quitCtx, b.next()) {
				return
			}
		}
		ok := w.t.redo(w.quitCtx, w.log, func(l *link) error {
			n, err := w.setup(l)
			if err != nil {
				return err
			}
			w.mu.Lock()
			if w.stopping.Load() {
				w.mu.Unlock()
				n.release()
				return errStopped
			}
			w.gen, g = n, n
			w.mu.Unlock()
			return nil
		})
		if !ok {
			return
		}
		w.log.Debug("amqp: watching presence again", "presence_queue", g.queue)
		since = time.Now()
	}
}

// consume calls fn for each of g's deliveries until they end, and
// acknowledges each, also once the watcher is stopping (without calling fn):
// the channel is shared, and goes on after this consumer.
func (w *presenceWatcher) consume(g *watchGen) {
	for d := range g.deliveries {
		if !w.stopping.Load() {
			p, err := decodePresence(d.Body)
			if err != nil {
				w.log.Debug("amqp: skipped a malformed presence message", "reason", err,
					"content_type", truncate(d.ContentType, 64), "bytes", len(d.Body))
			} else {
				w.fn(p)
			}
		}
		g.sc.send(func() {
			if err := d.Ack(false); err != nil && !w.stopping.Load() {
				w.log.Debug("amqp: could not acknowledge a presence message", "error", err)
			}
		})
	}
}

// Close cancels the consumer, which deletes the queue, all bounded by ctx;
// fn is not called again once it returns. The channel goes on for the
// Transport's other watchers; the last of them closes it. Close waits, until
// ctx ends, for a call to fn in progress, so calling Close from fn returns
// only when ctx ends. It is idempotent.
func (w *presenceWatcher) Close(ctx context.Context) error {
	w.closeOnce.Do(func() { w.closeErr = w.close(ctx) })
	return w.closeErr
}

func (w *presenceWatcher) close(ctx context.Context) error {
	w.mu.Lock()
	w.stopping.Store(true)
	g := w.gen
	w.mu.Unlock()
	w.quit()
	err := runCtx(ctx, func() error { return g.sc.cancel(g.tag) }, func() {})
	if err != nil && !errors.Is(err, amqp.ErrClosed) && ctx.Err() == nil {
		w.log.Debug("amqp: could not cancel the presence consumer", "error", err)
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		// Let the channel go, if it was the last watcher's: that ends the
		// deliveries if the broker has not answered the cancel.
		go g.release()
		return fmt.Errorf("amqp: close presence watcher %s: fn still running: %w", g.queue, ctx.Err())
	}
}

// release gives g's channel back, once; the last watcher's release closes it.
func (g *watchGen) release() {
	if g == nil {
		return
	}
	g.releaseOnce.Do(g.sc.release)
}
