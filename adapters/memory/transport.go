package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

var _ ports.Transport = (*Transport)(nil)

// DefaultQueueLength is the default Config.QueueLength.
const DefaultQueueLength = 1024

// routeCacheSize bounds the cache of routing keys already resolved; past it the
// cache is emptied and refilled, so random keys cannot grow memory.
const routeCacheSize = 4096

// Config tunes a Transport. The zero value is ready to use.
type Config struct {
	// QueueLength is the most requests one queue holds; DefaultQueueLength if < 1.
	QueueLength int
	// Logger receives warnings (full queues, dropped replies); slog.Default() if nil.
	Logger *slog.Logger
	// Jobs bounds the results store (jobs.go); zero fields take
	// ports.JobStoreLimits' defaults.
	Jobs ports.JobStoreLimits
}

// Transport is an in-process topic exchange. It is safe for concurrent use.
type Transport struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	index  *domain.Index[*queue]
	queues map[string]*queue
	routes map[string]*route // cache of index lookups; emptied on every binding change
	subs   map[*subscription]struct{}
	work   map[string]*queue // work queues by group name (work.go); nil until the first
	claims claimTable        // claims of balanced requests' call ids (claims.go)
	closed bool

	calls callShards // registrations by call id, for Forget

	droppedReplies atomic.Int64

	presence presenceHub // watchers of presence messages (presence.go)

	jobs jobLog // the results store (jobs.go)

	regMu    sync.Mutex      // serialises register reads and updates (register.go)
	register domain.Register // the fleet register
}

// New returns an empty exchange.
func New(cfg Config) *Transport {
	if cfg.QueueLength < 1 {
		cfg.QueueLength = DefaultQueueLength
	}
	cfg.Jobs = cfg.Jobs.WithDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Transport{
		cfg:    cfg,
		log:    log,
		index:  domain.NewIndex[*queue](),
		queues: make(map[string]*queue),
		routes: make(map[string]*route),
		subs:   make(map[*subscription]struct{}),
	}
}

// message is a published request. One message is shared by every queue the
// request reaches; it is immutable (but for reg.gone) and also serves as the
// ReplyWriter for it.
type message struct {
	req domain.Request
	t   *Transport
	reg registration // where its replies go
}

// registration is where the replies to one Send go until its call is
// forgotten. The message carries it, so that a reply reaches the sink
// without looking the call up under a lock shared by every caller: the
// transport's calls map is only there for Forget to find it. Sends of the
// same call id (one per server with app.Servers, say) each have theirs,
// chained by prev: Forget marks them all.
type registration struct {
	sink ports.ReplySink
	gone atomic.Bool   // the call was forgotten: replies are dropped
	prev *registration // an earlier Send of the same call id, still registered
}

// Reply implements ports.ReplyWriter: it hands r to the caller's sink, or drops
// it when the caller has forgotten the call. It never blocks.
func (m *message) Reply(_ context.Context, r domain.Reply) error {
	r.CallID = m.req.ID
	if m.reg.gone.Load() {
		m.t.droppedReplies.Add(1)
		return nil // the caller is gone: like a reply to a deleted reply queue
	}
	m.reg.sink.Deliver(r)
	return nil
}

// Send implements ports.Transport. Like the AMQP transport, it refuses a
// request without an ID or with a malformed command (an error wrapping
// domain.ErrBadCommand) before registering the sink.
func (t *Transport) Send(_ context.Context, req *domain.Request, sink ports.ReplySink) error {
	if err := domain.ValidateKey(req.Target); err != nil {
		return fmt.Errorf("send %s: %w", req.Command.Name, err)
	}
	if req.ID == "" {
		return fmt.Errorf("send %s: request has no ID", req.Target)
	}
	if err := req.Command.Validate(); err != nil {
		return fmt.Errorf("send %s: %w", req.Target, err)
	}
	m := &message{req: *req, t: t}
	m.reg.sink = sink
	t.calls.register(req.ID, &m.reg)

	if req.Balanced {
		return t.sendBalanced(m)
	}
	r, err := t.lookup(req.Target)
	if err != nil {
		return fmt.Errorf("send %s: %w", req.Target, err)
	}
	if len(r.queues) == 0 {
		return fmt.Errorf("send %s: %w %s", req.Target, ports.ErrNoRoute, req.Target)
	}
	expired := m.expired() // one clock reading for every queue
	var full []error
	for _, q := range r.queues {
		if !q.publish(m, expired) {
			full = append(full, fmt.Errorf("queue %s: %w (%d requests waiting)", q.name, ports.ErrQueueFull, q.limit))
		}
	}
	if full != nil {
		t.log.Warn("request refused by full queues", "target", req.Target, "call", req.ID, "queues", len(full))
		return fmt.Errorf("send %s: %w", req.Target, errors.Join(full...))
	}
	return nil
}

// route is what a routing key reaches: the queues, sorted by name, and their
// names. Both slices are shared by every caller: read only.
type route struct {
	queues []*queue
	names  []string
}

// lookup returns what key reaches, from the cache when it can.
func (t *Transport) lookup(key string) (*route, error) {
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return nil, ports.ErrClosed
	}
	r := t.routes[key]
	t.mu.RUnlock()
	if r != nil {
		return r, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ports.ErrClosed
	}
	if r := t.routes[key]; r != nil {
		return r, nil
	}
	qs := t.index.Match(key, nil)
	slices.SortFunc(qs, func(a, b *queue) int { return cmp.Compare(a.name, b.name) })
	r = &route{queues: qs, names: make([]string, len(qs))}
	for i, q := range qs {
		r.names[i] = q.name
	}
	if len(t.routes) >= routeCacheSize {
		clear(t.routes)
	}
	t.routes[key] = r
	return r, nil
}

// expired reports whether m is past its deadline now. It reads only the
// monotonic clock when the deadline has it.
func (m *message) expired() bool {
	return !m.req.Deadline.IsZero() && time.Until(m.req.Deadline) <= 0
}

// Forget implements ports.Transport.
func (t *Transport) Forget(callID string) {
	for r := t.calls.remove(callID); r != nil; r = r.prev {
		r.gone.Store(true)
	}
}

// callShards is the transport's registrations by call id, split by the id's
// last byte so that concurrent callers rarely wait for one another: every
// Send and every Forget takes a shard's lock.
type callShards [16]struct {
	mu sync.Mutex
	m  map[string]*registration
	_  [64 - 16]byte // one shard per cache line
}

// shard picks the shard of id from its last byte, where ids differ most
// (app.Client's end with a sequence number). Ids alike at the end only share
// a lock.
func (cs *callShards) shard(id string) (*sync.Mutex, *map[string]*registration) {
	var h uint
	if len(id) > 0 {
		h = uint(id[len(id)-1])
	}
	s := &cs[h%uint(len(cs))]
	return &s.mu, &s.m
}

// register makes r the registration of id, after any still registered.
func (cs *callShards) register(id string, r *registration) {
	mu, m := cs.shard(id)
	mu.Lock()
	if *m == nil {
		*m = make(map[string]*registration)
	}
	r.prev = (*m)[id]
	(*m)[id] = r
	mu.Unlock()
}

// remove unregisters id and returns its latest registration.
func (cs *callShards) remove(id string) *registration {
	mu, m := cs.shard(id)
	mu.Lock()
	r := (*m)[id]
	delete(*m, id)
	mu.Unlock()
	return r
}

// Routes implements ports.Transport: the memory exchange always knows exactly.
// The returned slice is shared: do not modify it.
func (t *Transport) Routes(_ context.Context, key string) ([]string, error) {
	if err := domain.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("routes %s: %w", key, err)
	}
	r, err := t.lookup(key)
	if err != nil {
		return nil, fmt.Errorf("routes %s: %w", key, err)
	}
	return r.names, nil
}

// DroppedReplies counts replies that arrived for calls nobody waited for any more.
func (t *Transport) DroppedReplies() int64 { return t.droppedReplies.Load() }

// Close implements ports.Transport: every subscription stops, the context of
// handlers in flight is cancelled, and later calls fail with ports.ErrClosed.
// It does not wait for handlers to return.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	subs := make([]*subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	for _, s := range subs {
		s.stop()
		s.cancel()
	}
	t.presence.close()
	t.jobs.mu.Lock()
	if t.jobs.changed != nil { // followers see the transport closed
		close(t.jobs.changed)
		t.jobs.changed = nil
	}
	t.jobs.mu.Unlock()
	return nil
}
