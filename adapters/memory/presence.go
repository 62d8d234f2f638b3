package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// PresenceBuffer is how many presence messages a watcher may fall behind
// before the oldest of them are dropped.
const PresenceBuffer = 256

// presenceHub broadcasts presence messages to the watchers of one Transport:
// queries to the watchers of queries (servers), everything else to the
// watchers of announcements (rosters), so that no server handles another
// server's heartbeats. Its zero value is ready to use.
type presenceHub struct {
	mu       sync.Mutex                                    // held while a message is queued to its watchers, so all see one order
	watchers [ports.WatchQueries + 1]map[*watcher]struct{} // by interest
	closed   bool

	dropped atomic.Int64
}

// Announce implements ports.Transport: p is queued for every current watcher
// that wants it, and Announce returns at once; it never waits for a watcher.
// A query goes to the watchers of queries (ports.WatchQueries) only, any
// other kind to the watchers of announcements (ports.WatchAnnouncements)
// only. Every watcher sees the announcements it gets in the same order, the
// order of the Announce calls.
// A watcher PresenceBuffer messages behind loses its oldest message to make
// room (see WatchPresence). The watchers share p's slices: fn must not modify
// them. Announce fails, wrapping ports.ErrClosed, after Close.
func (t *Transport) Announce(_ context.Context, p domain.Presence) error {
	if p.Kind > domain.PresenceQuery {
		return fmt.Errorf("announce %q: unknown presence kind %d", p.Server, p.Kind)
	}
	// The caller may reuse its slices; the watchers get a snapshot, as they
	// would over the network.
	p.Bindings = slices.Clone(p.Bindings)
	p.WorkGroups = slices.Clone(p.WorkGroups)
	p.Commands = slices.Clone(p.Commands)

	h := &t.presence
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("announce %s %q: %w", p.Kind, p.Server, ports.ErrClosed)
	}
	for w := range h.watchers[interestIn(p.Kind)] {
		w.queue(p)
	}
	return nil
}

// interestIn returns the watchers a message of kind goes to.
func interestIn(kind domain.PresenceKind) ports.PresenceInterest {
	if kind == domain.PresenceQuery {
		return ports.WatchQueries
	}
	return ports.WatchAnnouncements
}

// WatchPresence implements ports.Transport: fn is called with every message
// announced on t after WatchPresence returns that want asks for (queries
// only, or every other kind), in announce order, from one goroutine of the
// watcher's own, never concurrently with itself.
//
// Backpressure: announcers never wait for a watcher. Each watcher has a
// buffer of PresenceBuffer messages; when it is full, the oldest message in
// it is dropped to make room for the new one, counted (DroppedPresence) and
// logged at warn level (on the 1st, 2nd, 4th, 8th... drop of each watcher).
// The newest messages are the ones worth keeping: each says more recently
// who is there. The order of those kept is unchanged.
//
// ctx is not used: watching starts at once. Transport.Close stops every
// watcher without waiting: a call to fn in progress may finish after it
// returns, and no other starts. WatchPresence fails, wrapping
// ports.ErrClosed, after Close.
func (t *Transport) WatchPresence(_ context.Context, want ports.PresenceInterest, fn func(domain.Presence)) (ports.Subscription, error) {
	if fn == nil {
		return nil, errors.New("watch presence: fn is nil")
	}
	if want > ports.WatchQueries {
		return nil, fmt.Errorf("watch presence: unknown interest %v", want)
	}
	w := &watcher{
		hub:  &t.presence,
		want: want,
		log:  t.log,
		fn:   fn,
		ch:   make(chan domain.Presence, PresenceBuffer),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	h := &t.presence
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("watch presence: %w", ports.ErrClosed)
	}
	if h.watchers[want] == nil {
		h.watchers[want] = make(map[*watcher]struct{})
	}
	h.watchers[want][w] = struct{}{}
	h.mu.Unlock()
	go w.run()
	return w, nil
}

// DroppedPresence counts the presence messages dropped because a watcher had
// fallen PresenceBuffer messages behind.
func (t *Transport) DroppedPresence() int64 { return t.presence.dropped.Load() }

// close stops every watcher; Transport.Close calls it. A call to a watcher's
// fn in progress may still finish after it returns; no other call starts.
func (h *presenceHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for i := range h.watchers {
		for w := range h.watchers[i] {
			w.halt()
		}
		h.watchers[i] = nil
	}
}

// watcher is one WatchPresence: a buffer and the goroutine draining it into fn.
type watcher struct {
	hub     *presenceHub
	want    ports.PresenceInterest
	log     *slog.Logger
	fn      func(domain.Presence)
	ch      chan domain.Presence
	dropped int64 // guarded by hub.mu

	stop     chan struct{} // closed to stop the goroutine
	stopOnce sync.Once
	done     chan struct{} // closed when the goroutine has returned
}

// queue hands p to the watcher's goroutine, dropping the oldest message
// waiting if the buffer is full. Call with hub.mu held: only one goroutine
// queues at a time, so the slot freed is still free when p is put in it.
func (w *watcher) queue(p domain.Presence) {
	select {
	case w.ch <- p:
		return
	default:
	}
	select {
	case old := <-w.ch:
		w.dropped++
		w.hub.dropped.Add(1)
		if bits.OnesCount64(uint64(w.dropped)) == 1 { // 1, 2, 4, 8...
			w.log.Warn("memory: presence watcher is falling behind; dropped its oldest messages",
				"dropped", w.dropped, "buffer", cap(w.ch), "oldest_kind", old.Kind.String(), "oldest_server", old.Server)
		}
	default: // the watcher took one meanwhile
	}
	w.ch <- p // cannot block: there is room, and only the watcher takes
}

func (w *watcher) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case p := <-w.ch:
			select {
			case <-w.stop: // stopped while waiting: calls nothing more
				return
			default:
			}
			w.fn(p)
		}
	}
}

func (w *watcher) halt() { w.stopOnce.Do(func() { close(w.stop) }) }

// Close implements ports.Subscription: fn is not called again once Close
// returns. Close waits, until ctx ends, for a call to fn in progress; so
// calling it from fn returns only when ctx ends. It is idempotent.
func (w *watcher) Close(ctx context.Context) error {
	w.hub.mu.Lock()
	delete(w.hub.watchers[w.want], w)
	w.hub.mu.Unlock()
	w.halt()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close presence watcher: fn still running: %w", ctx.Err())
	}
}
