package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Version is topicrpc's version, reported by ping and presence.
const Version = "0.2.0"

// Defaults for ServerConfig.
const (
	DefaultProgressInterval  = time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultAckDelay          = 20 * time.Millisecond
)

// AckAtOnce, as ServerConfig.AckDelay, acknowledges every request before its
// handler runs: one more reply per request, for callers that must hear from
// every server before any result (ClientConfig.IdleGap shorter than
// DefaultAckDelay).
const AckAtOnce time.Duration = -1

// ServerConfig describes one server.
type ServerConfig struct {
	// Name is the server's name, unique in the fleet; "q1".
	Name string
	// NoStore keeps the server from storing its replies in the transport's
	// results store (ports.JobStore) even for requests that ask for it
	// (domain.Request.Record): their jobs then show it not received.
	NoStore bool
	// Bindings are extra topic patterns; "group1.#".
	Bindings []string
	// NoDefaultBindings drops the bindings every server has by default:
	// "all.#" and "<name>.#", so that "all" and its own name reach it.
	NoDefaultBindings bool
	// Queue, when set, makes the server a competing consumer of that shared
	// queue instead of the owner of its own.
	Queue string
	// Concurrency bounds the requests handled at once; 1 when < 1.
	Concurrency int
	// WorkGroups are the groups whose load-balanced requests (call --any) this
	// server also takes. Empty means the default: every group named by a
	// binding of the form "group.#" or "group" (so "all", the server's own
	// name and its groups), unless NoWorkGroups.
	WorkGroups []string
	// NoWorkGroups makes the server take no load-balanced requests at all.
	NoWorkGroups bool
	// ProgressInterval is how often a server tells the caller it is still
	// working on a long request; DefaultProgressInterval if zero.
	ProgressInterval time.Duration
	// AckDelay is how long a request may run before the server acknowledges
	// it (a domain.KindAck reply, so that a caller still waiting at its
	// deadline counts the server as timed out, not silent); a result sent
	// before then is its own acknowledgement, and the request gets no ack.
	// A request whose deadline is less than twice AckDelay away is
	// acknowledged halfway to it. DefaultAckDelay if zero; AckAtOnce (any
	// negative value) means at once, before the handler runs; longer than
	// ProgressInterval means ProgressInterval. A caller learning who
	// answers from replies alone (ClientConfig.IdleGap) must wait longer
	// than this.
	AckDelay time.Duration
	// HeartbeatInterval is how often the server announces its presence;
	// DefaultHeartbeatInterval if zero.
	HeartbeatInterval time.Duration
	// RegisterRefresh is how often the server records in the fleet register
	// that it is still up: the precision of the "last seen" time clients
	// show once it is down. DefaultRegisterRefresh if zero. Each refresh
	// rewrites the register on the broker: keep N servers / RegisterRefresh
	// to a few writes a second.
	RegisterRefresh time.Duration
	// MaxArgs is the largest Command.Args run, in bytes; DefaultMaxArgs if
	// < 1. A request with longer args gets a bad_args error reply and runs
	// no handler.
	MaxArgs int
	// AuthKey, when set, makes the server refuse every request not signed
	// with this key, forged, replayed or sent outside
	// domain.DefaultReplayWindow of its clock: it answers CodeUnauthorized
	// without acknowledging or running it (see app/auth.go). A server
	// without a key accepts every request, signed or not. Never logged.
	AuthKey []byte
	// CallerKeys, when it holds keys, makes the server accept requests
	// signed by a caller's own private key (domain.PrivateKey) whose
	// public key it holds, under the name the key has; with AuthKey too,
	// requests signed with either are accepted. Like AuthKey, it makes the
	// server refuse unsigned, forged and replayed requests.
	CallerKeys *domain.Keyring
	// Identity, when set, is the server's own key pair: it signs the
	// server's replies, presence messages and register entry (instead of
	// AuthKey), so that clients given its public key can tell them from
	// anyone else's. Its name should be the server's Name.
	Identity *domain.PrivateKey
	// Authorize, when set, runs right after the verify step: only requests
	// whose signature, freshness and target held reach it, with
	// Inbound.Caller saying who sent them. NewPolicyGate's Middleware
	// enforces a policy file there.
	Authorize Middleware
	// Middleware wrap the server's request pipeline, the first outermost,
	// outside the built-in steps: each sees every request the server takes
	// and its result (see Middleware and pipeline.go). Metrics, audit and
	// tracing plug in here.
	Middleware []Middleware
	// Observer, when set, hears the acks, progress replies, presence
	// messages and register writes the server sends (see ServerObserver).
	Observer ServerObserver
	// Clock is the server's wall clock for judging requests: whether one is
	// past its deadline, and whether a signed one is inside the replay
	// window. time.Now when nil. Durations (Elapsed, ack and progress
	// timers, the handler's deadline) always use the process's monotonic
	// clock. Set it to model a server whose clock is off.
	Clock func() time.Time
}

// AllBindings returns the bindings the server's queue gets: the defaults
// ("all.#", "<name>.#") unless disabled, then Bindings, without repeats.
func (c ServerConfig) AllBindings() []string {
	var b []string
	if !c.NoDefaultBindings {
		b = append(b, "all.#", c.Name+".#")
	}
	for _, x := range c.Bindings {
		if !slices.Contains(b, x) {
			b = append(b, x)
		}
	}
	return b
}

// AllWorkGroups returns the server's load-balanced groups; see WorkGroups.
func (c ServerConfig) AllWorkGroups() []string {
	switch {
	case c.NoWorkGroups:
		return nil
	case len(c.WorkGroups) > 0:
		return c.WorkGroups
	}
	var groups []string
	for _, b := range c.AllBindings() {
		g := strings.TrimSuffix(b, ".#")
		if domain.ValidateGroup(g) == nil && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	return groups
}

// Server answers the requests its bindings attract by running the handler
// named in each and sending one result: a request still running
// ServerConfig.AckDelay after the server took it is acknowledged then, and
// gets progress replies while its handler runs long; a faster result is its
// own acknowledgement. It announces its presence so clients can tell who
// should answer. Handle may be called at any time; Start and Stop once each.
type Server struct {
	cfg      ServerConfig
	t        ports.Transport
	log      *slog.Logger
	handlers *Registry
	flights  flights
	auth     *authenticator // nil without AuthKey or CallerKeys
	signer   domain.Signer  // Identity, else AuthKey: signs replies, presence, the register entry
	pipeline Step           // the request pipeline, built once: see chain

	mu      sync.Mutex
	sub     ports.Subscription
	started time.Time
	// startMs is started in unix milliseconds, readable without mu: the
	// verify step checks every signed request against it, and Start holds
	// mu while the first requests may already arrive.
	startMs   atomic.Int64
	presence  *announcer
	registrar *registrar // nil when the transport keeps no register
	// jobs is the transport's results store, where the replies to requests
	// asking for it (domain.Request.Record) go too; nil without one.
	jobs    ports.JobStore
	storing chan struct{} // a token per store in flight (jobstore.go)
	stores  inflight      // the stores in flight
}

// NewServer returns a server with the built-in commands echo, fib, ping and
// sleep registered. log may be nil.
func NewServer(t ports.Transport, cfg ServerConfig, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = DefaultProgressInterval
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.RegisterRefresh <= 0 {
		cfg.RegisterRefresh = DefaultRegisterRefresh
	}
	if cfg.AckDelay == 0 {
		cfg.AckDelay = DefaultAckDelay
	}
	cfg.AckDelay = min(cfg.AckDelay, cfg.ProgressInterval)
	if cfg.MaxArgs < 1 {
		cfg.MaxArgs = DefaultMaxArgs
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	s := &Server{cfg: cfg, t: t, log: log.With("server", cfg.Name), handlers: NewRegistry(),
		auth:   newAuthenticator(domain.Trust{FleetKey: cfg.AuthKey, Keys: cfg.CallerKeys}),
		signer: domain.Signer{FleetKey: cfg.AuthKey, Key: cfg.Identity}}
	if store, ok := t.(ports.JobStore); ok && !cfg.NoStore {
		s.jobs, s.storing = store, make(chan struct{}, maxStoring)
	}
	s.flights.init(cfg.Name, cfg.ProgressInterval, s.log, cfg.Observer)
	s.pipeline = s.chain(cfg.Middleware)
	for name, h := range map[string]HandlerFunc{"echo": Echo, "fib": Fib, "sleep": Sleep, "ping": s.ping} {
		_ = s.handlers.Handle(name, h) // names are valid
	}
	return s
}

// now reads the server's clock (ServerConfig.Clock).
func (s *Server) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock()
	}
	return time.Now()
}

// Name returns the server's name.
func (s *Server) Name() string { return s.cfg.Name }

// Handle registers h as the command name; see Registry.Handle.
func (s *Server) Handle(name string, h HandlerFunc) error { return s.handlers.Handle(name, h) }

// Commands returns the names of the registered commands, sorted.
func (s *Server) Commands() []string { return s.handlers.Names() }

// Start declares the server's queue, bindings and work queues, starts serving
// and announces the server. It returns once the server takes requests.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		return fmt.Errorf("start server %s: already started", s.cfg.Name)
	}
	ep := ports.Endpoint{Name: s.cfg.Name, Bindings: s.cfg.AllBindings(), Queue: s.cfg.Queue,
		Concurrency: s.cfg.Concurrency, WorkGroups: s.cfg.AllWorkGroups()}
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("start server %q: %w", s.cfg.Name, err)
	}
	reg, _ := s.t.(ports.Register)
	if reg != nil && s.cfg.Queue == "" {
		if err := checkUnique(ctx, reg, s.cfg.Name, ep.QueueName(), s.log); err != nil {
			return fmt.Errorf("start server %s: %w", s.cfg.Name, err)
		}
	}
	// Before Serve: the requests waiting in the queue are judged by it
	// (a signed one sent before this start may be a replay).
	s.started = time.Now()
	s.startMs.Store(s.started.UnixMilli())
	sub, err := s.t.Serve(ctx, ep, s.serve)
	if err != nil {
		return fmt.Errorf("start server %s: %w", s.cfg.Name, err)
	}
	s.sub = sub
	if reg != nil {
		s.registrar = startRegistrar(ctx, reg, s.signer, s.registration(ep), s.cfg.RegisterRefresh, s.log, s.cfg.Observer)
	}
	s.presence = newAnnouncer(s.t, s.signer, s.hello(ep), s.cfg.HeartbeatInterval, s.log, s.cfg.Observer)
	if err := s.presence.start(ctx); err != nil {
		// Serving matters more than being seen: clients fall back to acks.
		s.log.Warn("presence unavailable: clients will not see this server in their roster", "err", err)
	}
	s.log.Debug("serving", "queue", ep.QueueName(), "bindings", ep.Bindings, "work_groups", ep.WorkGroups,
		"concurrency", max(ep.Concurrency, 1))
	return nil
}

// hello is the server's presence message.
func (s *Server) hello(ep ports.Endpoint) domain.Presence {
	host, _ := os.Hostname()
	return domain.Presence{Server: s.cfg.Name, Queue: ep.QueueName(), Bindings: ep.Bindings,
		WorkGroups: ep.WorkGroups, Commands: s.Commands(), Version: Version, Host: host, PID: os.Getpid(),
		Started: s.started, Interval: s.cfg.HeartbeatInterval}
}

// registration is the server's entry in the fleet register.
func (s *Server) registration(ep ports.Endpoint) domain.Registration {
	h := s.hello(ep)
	return domain.Registration{Server: h.Server, Queue: h.Queue, Bindings: h.Bindings, WorkGroups: h.WorkGroups,
		Commands: h.Commands, Version: h.Version, Host: h.Host, PID: h.PID, Started: s.started}
}

// Stop says goodbye, stops taking requests and lets handlers in flight finish
// until ctx ends; then their context is cancelled.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	sub, presence, registrar := s.sub, s.presence, s.registrar
	s.mu.Unlock()
	if sub == nil {
		return nil
	}
	presence.stop(ctx)
	if registrar != nil {
		registrar.stop(ctx)
	}
	err := sub.Close(ctx)
	s.flights.close()
	s.awaitStores(ctx)
	if err != nil {
		return fmt.Errorf("stop server %s: %w", s.cfg.Name, err)
	}
	return nil
}

func (s *Server) ping(context.Context, string) (string, error) {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	return fmt.Sprintf("pong name=%s version=%s uptime=%s", s.cfg.Name, Version,
		time.Since(started).Truncate(time.Millisecond)), nil
}
