package web

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// Caller makes calls; *app.Client is one.
type Caller interface {
	Call(ctx context.Context, target string, cmd domain.Command, opts ...app.CallOption) (*app.Call, error)
}

// Fleet reads the fleet register; *app.Client is one (with the fleet key,
// entries not signed with it are left out).
type Fleet interface {
	Census(ctx context.Context) ([]app.Registered, error)
}

// Presence tells who answers presence now; *app.Roster is one.
type Presence interface {
	Members() []domain.Member
}

// Config is what a Console shows and how it guards it.
type Config struct {
	// Caller runs the calls made from the page; required.
	Caller Caller
	// Fleet reads the register the page shows; required.
	Fleet Fleet
	// Presence, when set, marks the servers that are up by the register but
	// silent to presence (frozen, overloaded) as unresponsive.
	Presence Presence
	// Jobs is the results store; nil shows "jobs unavailable".
	Jobs Jobs
	// Vet, when set, checks a call before it is sent (the command line's
	// checks of --any and --expect); its error is shown as the call's.
	Vet func(ctx context.Context, r CallRequest) error
	// Token, when set, must be presented once (the login form, or ?token=
	// on any page) for a session cookie: every request needs one. Without
	// it, the console answers only requests whose Host is a loopback name.
	Token string
	// Namespace names the fleet in the page's title.
	Namespace string
	// Timeout is a call's default deadline; MinTimeout and MaxTimeout bound
	// what the form may ask.
	Timeout, MinTimeout, MaxTimeout time.Duration
	// FleetEvery is how often the register is read while a page watches;
	// DefaultFleetEvery if zero.
	FleetEvery time.Duration
	// Log may be nil.
	Log *slog.Logger
}

// Defaults and bounds of a Console.
const (
	DefaultFleetEvery = time.Second
	// MaxCalls is how many calls the console keeps, running or done; the
	// oldest done one is forgotten for a new one.
	MaxCalls = 64
	// MaxRunning is how many calls may run at once; more are refused (429).
	MaxRunning = 16
)

// Console is the web console's state: its calls, the fleet's last reading
// and the secret its sessions are signed with. Its handler is safe for
// concurrent use; Close ends its calls and event streams.
type Console struct {
	cfg    Config
	log    *slog.Logger
	secret []byte
	ctx    context.Context // ends with Close: calls and streams
	cancel context.CancelFunc
	fleet  *fleetHub
	calls  *callTable
	tmpl   *templates
	wg     sync.WaitGroup
}

// New returns a console for cfg.
func New(cfg Config) (*Console, error) {
	if cfg.Caller == nil || cfg.Fleet == nil {
		return nil, errors.New("web console: a Caller and a Fleet are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = app.DefaultTimeout
	}
	if cfg.MinTimeout <= 0 {
		cfg.MinTimeout = 10 * time.Millisecond
	}
	if cfg.MaxTimeout < cfg.Timeout {
		cfg.MaxTimeout = max(cfg.Timeout, time.Hour)
	}
	if cfg.FleetEvery <= 0 {
		cfg.FleetEvery = DefaultFleetEvery
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand documents it)
	ctx, cancel := context.WithCancel(context.Background())
	c := &Console{cfg: cfg, log: cfg.Log, secret: secret, ctx: ctx, cancel: cancel, tmpl: tmpl, calls: newCallTable()}
	c.fleet = newFleetHub(c.readFleet, cfg.FleetEvery)
	c.wg.Go(func() { c.fleet.run(ctx) })
	return c, nil
}

// Close cancels the calls in progress, ends the event streams and waits
// for the calls to end.
func (c *Console) Close() {
	c.cancel()
	c.wg.Wait()
}

// Handler is the console's HTTP handler, every guard in place.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.servePage)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /login", c.serveLogin)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("GET /api/fleet", c.serveFleetEvents)
	mux.HandleFunc("GET /api/preview", c.servePreview)
	mux.HandleFunc("POST /api/calls", c.startCall)
	mux.HandleFunc("GET /api/calls/{id}/events", c.serveCallEvents)
	mux.HandleFunc("GET /calls/{id}", c.serveCallPage)
	mux.HandleFunc("GET /jobs", c.serveJobs)
	mux.HandleFunc("GET /jobs/{id}", c.serveJob)
	return c.guard(mux)
}
