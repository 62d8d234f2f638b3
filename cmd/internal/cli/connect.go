package cli

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/adapters/fxtransport"
	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// DemoFleet is the embedded fleet: q1 in group1, q2 in group2, both in all.
func DemoFleet() []app.ServerConfig {
	return []app.ServerConfig{
		{Name: "q1", Bindings: []string{"group1.#"}, Concurrency: 4},
		{Name: "q2", Bindings: []string{"group2.#"}, Concurrency: 4},
	}
}

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
	// rosterQuiet is how long after the last presence answer the roster is
	// taken as complete: servers answer a query within milliseconds.
	rosterQuiet = 150 * time.Millisecond
	// noneIdleGap ends a call with no discovery this long after the last
	// reply, once no server that acknowledged is still working.
	noneIdleGap = 500 * time.Millisecond
	// memoryStopWait is how long the in-memory demo fleet's handlers may
	// finish when the program ends.
	memoryStopWait = 200 * time.Millisecond
)

// wantRoster reports whether calls learn who should answer from presence:
// only when asked for. By default the fleet register tells (then the
// management API, when given).
func (o *options) wantRoster(string) bool { return o.discovery == "presence" }

// transportModule returns the fx option providing the transport rawURL
// names: memory://, or one or more broker URLs (a cluster's nodes,
// comma-separated, see amqp.SplitURLs).
func (o *options) transportModule(rawURL string) (fx.Option, error) {
	urls := amqp.SplitURLs(rawURL)
	if len(urls) == 0 {
		return nil, usageError("--url is empty: want amqp://, amqps:// or memory://")
	}
	for _, one := range urls {
		u, err := url.Parse(one)
		if err != nil {
			return nil, usageError("--url: cannot parse %q", redact(one))
		}
		switch {
		case u.Scheme == "memory" && len(urls) > 1:
			return nil, usageError("--url %s: memory:// stands alone, not in a list of brokers", redact(rawURL))
		case u.Scheme == "memory":
			return fxtransport.Memory(memory.Config{}), nil
		case u.Scheme != "amqp" && u.Scheme != "amqps":
			return nil, usageError("--url %q: want amqp://, amqps:// or memory://", redact(one))
		}
	}
	return amqpModule(o, rawURL)
}

// withDemoFleet adds the demo fleet to tm when rawURL is the in-memory
// transport, whose exchange nothing else shares; it holds key, the
// client's, when there is one.
func (o *options) withDemoFleet(tm fx.Option, rawURL string, key []byte) fx.Option {
	if !isMemory(rawURL) {
		return tm
	}
	fleet := DemoFleet()
	for i := range fleet {
		fleet[i].AuthKey = key
	}
	return fx.Options(tm, app.ServerModule(fleet...))
}

// mutableHandler is a log handler that can be silenced.
type mutableHandler struct {
	slog.Handler
	mute *atomic.Bool
}

func (h *mutableHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.muted() && h.Handler.Enabled(ctx, l)
}

func (h *mutableHandler) muted() bool { return h.mute != nil && h.mute.Load() }

func (h *mutableHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &mutableHandler{Handler: h.Handler.WithAttrs(attrs), mute: h.mute}
}

func (h *mutableHandler) WithGroup(name string) slog.Handler {
	return &mutableHandler{Handler: h.Handler.WithGroup(name), mute: h.mute}
}

// isMemory reports whether rawURL names the embedded in-memory transport.
func isMemory(rawURL string) bool { return strings.HasPrefix(rawURL, "memory:") }

// withClient starts an fx app holding a client on the configured transport,
// runs fn, and stops the app.
func (o *options) withClient(ctx context.Context, fn func(context.Context, *app.Client) error) error {
	return o.withClientOn(ctx, o.url, fn)
}

// withRegister starts an fx app holding the configured transport, runs fn
// with its fleet register (and, with live, a roster of who answers a
// presence query: nil otherwise), and stops the app. A transport that keeps
// no register is a usage error.
func (o *options) withRegister(ctx context.Context, live bool, fn func(context.Context, ports.Register, *app.Roster) error) error {
	tm, err := o.transportModule(o.url)
	if err != nil {
		return err
	}
	k, err := o.keys(o.trustServers, "trust-servers")
	if err != nil {
		return err
	}
	tm = o.withDemoFleet(tm, o.url, k.fleet)
	var t ports.Transport
	var roster *app.Roster
	extra := fx.Options()
	if live {
		extra = fx.Options(app.RosterModuleTrusting(rosterQuiet, k.trust()), fx.Populate(&roster))
	}
	a := fx.New(app.Logger(o.log, o.fxLog), tm, extra, fx.Populate(&t),
		fx.StartTimeout(startTimeout), fx.StopTimeout(stopTimeout))
	if err := a.Err(); err != nil {
		return o.transportError("", o.url, err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := a.Start(sctx); err != nil {
		return o.transportError("", o.url, err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		if err := a.Stop(stopCtx); err != nil {
			o.log.Warn("stop", "err", err)
		}
	}()
	reg, ok := t.(ports.Register)
	if !ok {
		return usageError("%s keeps no fleet register", redact(o.url))
	}
	return fn(ctx, reg, roster)
}

func (o *options) withClientOn(ctx context.Context, rawURL string, fn func(context.Context, *app.Client) error) error {
	return o.withClientRoster(ctx, rawURL, o.wantRoster(rawURL), func(ctx context.Context, c *app.Client, _ *app.Roster) error {
		return fn(ctx, c)
	})
}

// withClientRoster is withClientOn, with a roster of who answers presence
// (nil without withRoster) handed to fn too.
func (o *options) withClientRoster(ctx context.Context, rawURL string, withRoster bool, fn func(context.Context, *app.Client, *app.Roster) error) error {
	tm, err := o.transportModule(rawURL)
	if err != nil {
		return err
	}
	k, err := o.keys(o.trustServers, "trust-servers")
	if err != nil {
		return err
	}
	tm = o.withDemoFleet(tm, rawURL, k.fleet)
	var r *app.Roster
	var roster fx.Option = fx.Options()
	if withRoster {
		roster = fx.Options(app.RosterModuleTrusting(rosterQuiet, k.trust()), fx.Populate(&r))
	}
	if o.caller != "" {
		if err := domain.ValidateIdentityName(o.caller); err != nil {
			return usageError("--caller: %v", err)
		}
		if k.identity != nil && k.identity.Name != o.caller {
			return usageError("--caller %s: the --identity key names %s; give one or the other", o.caller, k.identity.Name)
		}
	}
	cfg := app.ClientConfig{Timeout: o.timeout, AuthKey: k.fleet, Identity: k.identity, ServerKeys: k.trusted, Caller: o.caller, Record: o.record}
	tracer, stopTracing, err := o.tracer(ctx)
	if err != nil {
		return err
	}
	defer stopTracing()
	if tracer != nil {
		cfg.Tracer = tracer
	}
	switch o.discovery {
	case "none":
		cfg.IdleGap, cfg.NoRegister = noneIdleGap, true
	case "routes", "presence":
		cfg.NoRegister = true
	}
	var client *app.Client
	log := &mutableHandler{Handler: o.log.Handler(), mute: new(atomic.Bool)}
	a := fx.New(
		app.Logger(slog.New(log), o.fxLog),
		tm,
		roster,
		app.ClientModule(cfg),
		fx.Populate(&client, &o.transport),
		fx.StartTimeout(startTimeout), fx.StopTimeout(stopTimeout),
	)
	if err := a.Err(); err != nil {
		return o.transportError("", rawURL, err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := a.Start(sctx); err != nil {
		return o.transportError("", rawURL, err)
	}
	defer func() {
		wait := stopTimeout
		if isMemory(rawURL) {
			// The demo fleet lives and ends with this process: handlers still
			// running (a call cancelled with Ctrl+C) are cancelled, not
			// awaited, and its goodbyes, to a register that ends with it,
			// are not worth a warning.
			wait = memoryStopWait
			log.mute.Store(true)
		}
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
		defer cancel()
		if err := a.Stop(stopCtx); err != nil && !isMemory(rawURL) {
			o.log.Warn("stop", "err", err)
		}
	}()
	return fn(ctx, client, r)
}
