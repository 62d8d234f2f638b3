package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Version is topicrpc's version, reported by ping.
const Version = "0.1.0"

// ServerConfig describes one server.
type ServerConfig struct {
	// Name is the server's name, unique in the fleet; "q1".
	Name string
	// Bindings are extra topic patterns; "group1.#".
	Bindings []string
	// NoDefaultBindings drops the bindings every server has by default:
	// "all.#" and "<name>.#", so that "all" and its own name reach it.
	NoDefaultBindings bool
	// Queue, when set, makes the server a competing consumer of that shared
	// queue (load-balanced work) instead of its own.
	Queue string
	// Concurrency bounds the requests handled at once; 1 when < 1.
	Concurrency int
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

// Server answers the requests its bindings attract by running the handler
// named in each. Handle may be called at any time; Start and Stop once each.
type Server struct {
	cfg      ServerConfig
	t        ports.Transport
	log      *slog.Logger
	handlers *Registry
	now      func() time.Time

	mu      sync.Mutex
	sub     ports.Subscription
	started time.Time
}

// NewServer returns a server with the built-in commands echo, fib, ping and
// sleep registered. log may be nil.
func NewServer(t ports.Transport, cfg ServerConfig, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, t: t, log: log.With("server", cfg.Name), handlers: NewRegistry(), now: time.Now}
	for name, h := range map[string]HandlerFunc{"echo": Echo, "fib": Fib, "sleep": Sleep, "ping": s.ping} {
		_ = s.handlers.Handle(name, h) // names are valid
	}
	return s
}

// Name returns the server's name.
func (s *Server) Name() string { return s.cfg.Name }

// Handle registers h as the command name; see Registry.Handle.
func (s *Server) Handle(name string, h HandlerFunc) error { return s.handlers.Handle(name, h) }

// Commands returns the names of the registered commands, sorted.
func (s *Server) Commands() []string { return s.handlers.Names() }

// Start declares the server's queue and bindings and starts serving. It
// returns once the server is ready to take requests.
func (s *Server) Start(ctx context.Context) error {
	if s.cfg.Name == "" {
		return fmt.Errorf("start server: %w: empty server name", ports.ErrBadEndpoint)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		return fmt.Errorf("start server %s: already started", s.cfg.Name)
	}
	ep := ports.Endpoint{Name: s.cfg.Name, Bindings: s.cfg.AllBindings(), Queue: s.cfg.Queue, Concurrency: s.cfg.Concurrency}
	sub, err := s.t.Serve(ctx, ep, s.serve)
	if err != nil {
		return fmt.Errorf("start server %s: %w", s.cfg.Name, err)
	}
	s.sub, s.started = sub, s.now()
	s.log.Debug("serving", "queue", ep.QueueName(), "bindings", ep.Bindings, "concurrency", max(ep.Concurrency, 1))
	return nil
}

// Stop stops taking requests and lets handlers in flight finish until ctx
// ends; then their context is cancelled.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	sub := s.sub
	s.mu.Unlock()
	if sub == nil {
		return nil
	}
	if err := sub.Close(ctx); err != nil {
		return fmt.Errorf("stop server %s: %w", s.cfg.Name, err)
	}
	return nil
}

// serve is the ports.Handler: it runs one request and always sends one result.
func (s *Server) serve(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
	start := time.Now()
	reply := s.run(ctx, req)
	reply.Server = s.cfg.Name
	reply.Kind = domain.KindResult
	reply.Elapsed = time.Since(start) // monotonic clock only: cheaper than Now
	if err := rw.Reply(ctx, reply); err != nil {
		s.log.Warn("reply not sent", "call", req.ID, "command", req.Command.Name, "err", err)
	}
}

func (s *Server) run(ctx context.Context, req *domain.Request) domain.Reply {
	h, ok := s.handlers.Lookup(req.Command.Name)
	if !ok {
		return domain.Reply{Code: domain.CodeUnknownCommand, Error: fmt.Sprintf(
			"unknown command %q; this server has: %s", req.Command.Name, strings.Join(s.handlers.Names(), ", "))}
	}
	if !req.Deadline.IsZero() {
		hctx := newHandlerContext(ctx, req.Deadline)
		defer hctx.release()
		ctx = hctx
	}
	result, err := s.call(ctx, h, req)
	if err == nil {
		return domain.Reply{Result: result}
	}
	code := domain.CodeFailed
	switch {
	case errors.Is(err, ErrBadArgs):
		code = domain.CodeBadArgs
	case errors.Is(err, errPanic):
		code = domain.CodePanic
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		code = domain.CodeDeadline
	case ctx.Err() != nil:
		code = domain.CodeUnavailable
	}
	return domain.Reply{Code: code, Error: err.Error()}
}

var errPanic = errors.New("handler panicked")

// call runs h, turning a panic into an error.
func (s *Server) call(ctx context.Context, h HandlerFunc, req *domain.Request) (result string, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panicked", "call", req.ID, "command", req.Command.Name, "panic", p,
				"stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %s: %v", errPanic, req.Command.Name, p)
		}
	}()
	return h(ctx, req.Command.Args)
}

func (s *Server) ping(context.Context, string) (string, error) {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	return fmt.Sprintf("pong name=%s version=%s uptime=%s", s.cfg.Name, Version,
		s.now().Sub(started).Truncate(time.Millisecond)), nil
}
