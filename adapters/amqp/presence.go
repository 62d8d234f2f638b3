package amqp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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
	found := false
	for _, name := range []string{presence, query} {
		f, err := declareOrFind(l.conn, name, amqp.ExchangeFanout)
		if err != nil {
			return err
		}
		found = found || f
	}
	if found {
		// Declared by a server (this account may not): so is the binding.
		l.presence.declared.Store(true)
		return nil
	}
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: open channel: %w", err)
	}
	defer ch.Close()
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
// goes on, after the reconnection, on a new queue, and likewise when the
// broker closes the channel or deletes the queue (see consumer): the
// messages announced in between are not seen, and the announcers' next
// heartbeats fill the gap.
//
// The subscription's Close cancels the consumer, which deletes the queue,
// all bounded by its ctx; fn is not called again once it returns. The
// channel goes on for the Transport's other watchers; the last of them
// closes it. Close waits, until its ctx ends, for a call to fn in progress,
// so calling Close from fn returns only when ctx ends. It is idempotent.
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
	w := &presenceWatcher{t: t, fn: fn, exchange: t.exchangeFor(want)}
	c := newConsumer(ctx, t, w, consumerSpec{
		what: "watch presence", noun: "presence watcher", busy: "fn", log: t.log.With("presence", want.String()),
		workers: 1, prefetch: PresencePrefetch, exclusive: true, tagPrefix: "topicrpc-presence-", serial: true,
	})
	if err := t.startConsumers(ctx, l, []*consumer{c}); err != nil {
		return nil, err
	}
	c.log.Debug("amqp: watching presence", "presence_queue", c.queue())
	return c, nil
}

// presenceWatcher is what the consumer of a WatchPresence does
// (consumerKind): consume a new exclusive queue on each connection, on the
// channel the connection's watchers share, and hand each message to fn,
// one at a time (one worker, and serial: a generation's worker starts once
// the last one's has returned).
type presenceWatcher struct {
	t        *Transport
	fn       func(domain.Presence)
	exchange string // the queue is bound to it
}

// channel implements consumerKind: it declares the presence exchanges on
// l, if not yet done, and returns the channel l's watchers share.
func (w *presenceWatcher) channel(l *link) (*chanHolder, error) {
	if err := w.t.declarePresence(l); err != nil {
		return nil, fmt.Errorf("amqp: watch presence: %w", err)
	}
	return &l.watchers, nil
}

// declare implements consumerKind: a new exclusive, auto-delete queue,
// bounded, dropping its oldest messages, bound to the watcher's exchange.
func (w *presenceWatcher) declare(l *link, ch *amqp.Channel) (string, error) {
	name := w.t.cfg.QueuePrefix + "presence." + rand.Text()
	if len(name) > maxShortString {
		name = "" // the broker names it
	}
	args := amqp.Table{"x-max-length": int32(PresenceQueueLength), "x-overflow": "drop-head",
		"x-max-length-bytes": int64(PresenceQueueBytes)}
	q, err := ch.QueueDeclare(name, false, true, true, false, args)
	if err != nil {
		err = fmt.Errorf("declare queue %s: %w", name, err)
	} else if err = ch.QueueBind(q.Name, "", w.exchange, false, nil); err != nil {
		err = fmt.Errorf("bind queue %s to exchange %s: %w", q.Name, w.exchange, err)
	}
	if err != nil {
		// Declare the exchanges again next time: one may have been
		// deleted under this connection.
		l.presence.declared.Store(false)
		return "", fmt.Errorf("amqp: watch presence: %w", err)
	}
	return q.Name, nil
}

// work implements consumerKind: it calls fn for each of g's deliveries
// until they end, and acknowledges each, also once the watcher is stopping
// (without calling fn): the channel is shared, and goes on after this
// consumer.
func (w *presenceWatcher) work(g *generation) {
	for d := range g.deliveries {
		if !g.stopping() {
			p, err := decodePresence(d.Body)
			if err != nil {
				g.c.log.Debug("amqp: skipped a malformed presence message", "reason", err,
					"content_type", truncate(d.ContentType, 64), "bytes", len(d.Body))
			} else {
				w.fn(p)
			}
		}
		if err := g.settle(&d, settleAck); err != nil && !g.stopping() {
			g.c.log.Debug("amqp: could not acknowledge a presence message", "error", err)
		}
	}
}

// paused implements consumerKind.
func (w *presenceWatcher) paused(g *generation, _ genEnd, _ *amqp.Error) {
	g.c.log.Debug("amqp: presence watch paused: consumer cancelled, channel closed or connection lost", "presence_queue", g.queue)
}

// resumed implements consumerKind.
func (w *presenceWatcher) resumed(g *generation) {
	g.c.log.Debug("amqp: watching presence again", "presence_queue", g.queue)
}

// stopped implements consumerKind.
func (w *presenceWatcher) stopped(g *generation, cancelErr error) {
	if cancelErr != nil {
		g.c.log.Debug("amqp: could not cancel the presence consumer", "error", cancelErr)
	}
}
