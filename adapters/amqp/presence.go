package amqp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	// presenceContentType is the content type of presence messages.
	presenceContentType = "application/json"
	// PresencePrefetch is how many presence messages a watcher holds
	// unacknowledged in memory.
	PresencePrefetch = 64
	// PresenceQueueLength is how many more wait in a watcher's queue on the
	// broker; past it the broker drops the oldest (overflow drop-head).
	PresenceQueueLength = 256
)

// presenceState is the Transport's presence exchange, declared on first use.
// The zero value is ready to use.
type presenceState struct {
	declared atomic.Bool
	mu       sync.Mutex // serialises declarations
}

// presenceExchange returns the name of the fanout exchange presence messages
// go through.
func (t *Transport) presenceExchange() string { return t.cfg.Exchange + presenceSuffix }

// declarePresence declares the presence exchange, unless this Transport has
// already: durable, so that it is declared the same way by every process, and
// never deleted automatically, so that an Announce never publishes to a
// missing exchange (which would close the publishing channel). ch, if not
// nil, is used for the declaration; else a short-lived channel is.
func (t *Transport) declarePresence(ch *amqp.Channel) error {
	if t.presence.declared.Load() {
		return nil
	}
	t.presence.mu.Lock()
	defer t.presence.mu.Unlock()
	if t.presence.declared.Load() {
		return nil
	}
	name := t.presenceExchange()
	if len(name) > maxShortString {
		return fmt.Errorf("amqp: presence exchange name %s is %d bytes, at most %d allowed: shorten the exchange name",
			name, len(name), maxShortString)
	}
	if ch == nil {
		c, err := t.conn.Channel()
		if err != nil {
			return fmt.Errorf("amqp: open channel: %w", err)
		}
		defer c.Close()
		ch = c
	}
	if err := ch.ExchangeDeclare(name, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("amqp: declare exchange %s: %w", name, err)
	}
	t.presence.declared.Store(true)
	return nil
}

// Announce publishes p to the presence exchange on the publishing channel and
// waits for the broker's confirm, at most until ctx ends. Every watcher's
// queue bound to the exchange at that moment gets a copy; with none, the
// message is dropped, which is not an error. Messages announced by one
// Transport reach each watcher in the order their Announce calls reached the
// channel. Announce does not fill in p.Sent.
//
// It fails, wrapping ports.ErrClosed, after Close; ErrConnectionLost after
// the connection broke; with ctx's error when ctx ended first (the message may
// still have been published).
func (t *Transport) Announce(ctx context.Context, p domain.Presence) error {
	fail := func(err error) error { return fmt.Errorf("announce %s %q: %w", p.Kind, p.Server, err) }
	if t.closed.Load() {
		return fail(ports.ErrClosed)
	}
	body, err := encodePresence(p)
	if err != nil {
		return fail(err)
	}
	if err := t.pub.broken(t.down, t.failure); err != nil {
		return fail(err)
	}
	if !t.presence.declared.Load() {
		if err := runCtx(ctx, func() error { return t.declarePresence(nil) }, func() {}); err != nil {
			return fail(err)
		}
	}
	if err := t.gate.wait(ctx, t.down, t.failure); err != nil {
		return fail(err)
	}
	msg := amqp.Publishing{
		ContentType:  presenceContentType,
		DeliveryMode: amqp.Transient,
		Type:         p.Kind.String(),
		Timestamp:    p.Sent,
		Body:         body,
	}
	if len(p.Server) <= maxShortString {
		msg.AppId = p.Server
	}
	dc, err := t.pub.ch.PublishWithDeferredConfirmWithContext(ctx, t.presenceExchange(), "", false, false, msg)
	if err != nil {
		if berr := t.pub.broken(t.down, t.failure); berr != nil {
			return fail(berr)
		}
		return fail(err)
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-t.down:
		return fail(t.failure())
	}
	if !dc.Acked() {
		if err := t.pub.broken(t.down, t.failure); err != nil {
			return fail(err)
		}
		return fail(errors.New("broker refused the presence message (basic.nack)"))
	}
	return nil
}

// WatchPresence declares an exclusive, auto-delete queue bound to the
// presence exchange and consumes it on a channel of its own; fn is called
// with each message, in the order the queue holds them, from one goroutine,
// never concurrently with itself. Messages of one announcer arrive in the
// order it announced them. A message that cannot be decoded is logged at
// debug level and skipped.
//
// Backpressure: announcers never wait for watchers. A watcher holds at most
// PresencePrefetch messages in memory (each is acknowledged after fn
// returns); up to PresenceQueueLength more wait in its queue on the broker,
// which drops the oldest past that, so a watcher that falls behind loses its
// oldest messages, not its newest, and never grows this process's memory.
//
// ctx bounds the setup only. Transport.Close, or the connection's loss, ends
// the watch too; Transport.Close waits until a call to fn in progress returns.
func (t *Transport) WatchPresence(ctx context.Context, fn func(domain.Presence)) (ports.Subscription, error) {
	if fn == nil {
		return nil, errors.New("amqp: watch presence: fn is nil")
	}
	if t.closed.Load() {
		return nil, fmt.Errorf("amqp: watch presence: %w", ports.ErrClosed)
	}
	select {
	case <-t.down:
		return nil, fmt.Errorf("amqp: watch presence: %w", t.failure())
	default:
	}
	w := &presenceWatcher{
		t:    t,
		fn:   fn,
		tag:  "topicrpc-presence-" + rand.Text(),
		done: make(chan struct{}),
	}
	if err := runCtx(ctx, w.setup, w.closeChannel); err != nil {
		return nil, fmt.Errorf("amqp: watch presence: %w", err)
	}
	w.log = t.log.With("presence_queue", w.queue)
	// Run the watcher as one of the transport's goroutines, so that Close
	// waits for it, unless Close has begun (t.subs is nil from then on).
	t.mu.Lock()
	if t.subs == nil {
		t.mu.Unlock()
		w.closeChannel()
		return nil, fmt.Errorf("amqp: watch presence: %w", ports.ErrClosed)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		w.run()
	}()
	w.log.Debug("amqp: watching presence")
	return w, nil
}

// presenceWatcher is one WatchPresence: a channel, a queue and a consumer.
type presenceWatcher struct {
	t   *Transport
	fn  func(domain.Presence)
	tag string
	log *slog.Logger

	ch         *amqp.Channel
	queue      string
	deliveries <-chan amqp.Delivery

	stopping  atomic.Bool   // set by Close: fn is not called again
	done      chan struct{} // closed when run returns
	closeOnce sync.Once
	closeErr  error
}

// setup opens the watcher's channel, declares its queue, binds it and
// starts consuming.
func (w *presenceWatcher) setup() (err error) {
	ch, err := w.t.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer func() {
		if err != nil {
			ch.Close()
		}
	}()
	if err := w.t.declarePresence(ch); err != nil {
		return err
	}
	name := w.t.cfg.QueuePrefix + "presence." + rand.Text()
	if len(name) > maxShortString {
		name = "" // the broker names it
	}
	args := amqp.Table{"x-max-length": int32(PresenceQueueLength), "x-overflow": "drop-head"}
	q, err := ch.QueueDeclare(name, false, true, true, false, args)
	if err != nil {
		return fmt.Errorf("declare queue %s: %w", name, err)
	}
	exchange := w.t.presenceExchange()
	if err := ch.QueueBind(q.Name, "", exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to exchange %s: %w", q.Name, exchange, err)
	}
	if err := ch.Qos(PresencePrefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch %d: %w", PresencePrefetch, err)
	}
	deliveries, err := ch.Consume(q.Name, w.tag, false, true, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume queue %s: %w", q.Name, err)
	}
	w.ch, w.queue, w.deliveries = ch, q.Name, deliveries
	return nil
}

// run calls fn for each delivery until the deliveries end: the consumer was
// cancelled or the channel closed.
func (w *presenceWatcher) run() {
	defer close(w.done)
	for d := range w.deliveries {
		if w.stopping.Load() {
			continue // closing: the channel closes soon, unacknowledged is fine
		}
		p, err := decodePresence(d.Body)
		if err != nil {
			w.log.Debug("amqp: skipped a malformed presence message", "reason", err,
				"content_type", truncate(d.ContentType, 64), "bytes", len(d.Body))
		} else {
			w.fn(p)
		}
		if err := d.Ack(false); err != nil && !w.stopping.Load() {
			w.log.Debug("amqp: could not acknowledge a presence message", "error", err)
		}
	}
	if !w.stopping.Load() && !w.t.closed.Load() {
		w.log.Warn("amqp: presence watch ended: channel closed or connection lost")
	}
}

// Close cancels the consumer, which deletes the queue, and closes the
// channel, all bounded by ctx; fn is not called again once it returns. It
// waits, until ctx ends, for a call to fn in progress, so calling Close from
// fn returns only when ctx ends. It is idempotent.
func (w *presenceWatcher) Close(ctx context.Context) error {
	w.closeOnce.Do(func() { w.closeErr = w.close(ctx) })
	return w.closeErr
}

func (w *presenceWatcher) close(ctx context.Context) error {
	w.stopping.Store(true)
	err := runCtx(ctx, func() error { return w.ch.Cancel(w.tag, false) }, func() {})
	if err != nil && !errors.Is(err, amqp.ErrClosed) && ctx.Err() == nil {
		w.log.Debug("amqp: could not cancel the presence consumer", "error", err)
	}
	closed := make(chan struct{})
	go func() {
		w.closeChannel()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("amqp: close presence watcher %s: fn still running: %w", w.queue, ctx.Err())
	}
}

func (w *presenceWatcher) closeChannel() {
	if w.ch == nil {
		return
	}
	if err := w.ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) && w.log != nil {
		w.log.Debug("amqp: close presence channel", "error", err)
	}
}

// presenceWire is a presence message's JSON body. Field names are stable;
// fields added later are ignored by older readers. Times are unix
// milliseconds, 0 for the zero time; Interval is whole milliseconds.
type presenceWire struct {
	Kind       string   `json:"kind"`
	Server     string   `json:"server,omitempty"`
	Queue      string   `json:"queue,omitempty"`
	Bindings   []string `json:"bindings,omitempty"`
	WorkGroups []string `json:"work_groups,omitempty"`
	Commands   []string `json:"commands,omitempty"`
	Version    string   `json:"version,omitempty"`
	Host       string   `json:"host,omitempty"`
	PID        int      `json:"pid,omitempty"`
	Started    int64    `json:"started_ms,omitempty"`
	Sent       int64    `json:"sent_ms,omitempty"`
	Interval   int64    `json:"interval_ms,omitempty"`
}

// encodePresence renders p as a presence message body.
func encodePresence(p domain.Presence) ([]byte, error) {
	if p.Kind > domain.PresenceQuery {
		return nil, fmt.Errorf("unknown presence kind %d", p.Kind)
	}
	return json.Marshal(presenceWire{
		Kind: p.Kind.String(), Server: p.Server, Queue: p.Queue,
		Bindings: p.Bindings, WorkGroups: p.WorkGroups, Commands: p.Commands,
		Version: p.Version, Host: p.Host, PID: p.PID,
		Started: unixMilli(p.Started), Sent: unixMilli(p.Sent),
		Interval: p.Interval.Milliseconds(),
	})
}

// decodePresence parses a presence message body; errors wrap errMalformed.
func decodePresence(body []byte) (domain.Presence, error) {
	var w presenceWire
	if err := json.Unmarshal(body, &w); err != nil {
		return domain.Presence{}, fmt.Errorf("%w: presence: %w", errMalformed, err)
	}
	kind, ok := presenceKind(w.Kind)
	if !ok {
		return domain.Presence{}, fmt.Errorf("%w: presence kind %q", errMalformed, truncate(w.Kind, 64))
	}
	if w.Interval < 0 || w.Interval > maxIntervalMs {
		return domain.Presence{}, fmt.Errorf("%w: presence interval %d ms out of range", errMalformed, w.Interval)
	}
	return domain.Presence{
		Kind: kind, Server: w.Server, Queue: w.Queue,
		Bindings: w.Bindings, WorkGroups: w.WorkGroups, Commands: w.Commands,
		Version: w.Version, Host: w.Host, PID: w.PID,
		Started: fromUnixMilli(w.Started), Sent: fromUnixMilli(w.Sent),
		Interval: time.Duration(w.Interval) * time.Millisecond,
	}, nil
}

// maxIntervalMs is the longest interval a time.Duration holds, in ms.
const maxIntervalMs = math.MaxInt64 / int64(time.Millisecond)

func presenceKind(s string) (domain.PresenceKind, bool) {
	for k := domain.PresenceHello; k <= domain.PresenceQuery; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
