package metrics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// The label values a command name takes when it cannot be its own.
const (
	// UnknownCommand labels a request whose command no handler of this
	// process has run: unknown to the server, or refused before its
	// handler was looked up (unauthorized, expired, malformed) under a name
	// not seen run before. The wire chooses those names; they never become
	// labels.
	UnknownCommand = "_unknown"
	// OtherCommand labels the commands run once MaxCommands names have
	// labels of their own.
	OtherCommand = "_other"
)

// MaxCommands bounds the command names that get a label of their own.
const MaxCommands = 256

// DurationBuckets are the request duration histogram's buckets, in seconds:
// from 100 µs (an in-memory echo takes a few) to a minute.
var DurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics holds the collectors of one process's servers and transport.
// Every method is safe for concurrent use. The zero value is not usable:
// call New.
type Metrics struct {
	requests   *prometheus.CounterVec   // command, outcome
	duration   *prometheus.HistogramVec // command
	inFlight   prometheus.GaugeFunc     // reads flying
	flying     atomic.Int64             // requests in flight: an integer add each way, not a float's CAS loop
	replies    *prometheus.CounterVec   // kind, result
	presence   *prometheus.CounterVec   // kind, result
	register   *prometheus.CounterVec   // result
	lost       prometheus.Counter
	reconnects prometheus.Counter
	build      *prometheus.GaugeVec

	// commands maps each command name with a label of its own to its
	// series: read without a lock on every request, replaced (copied) under
	// mu when a name is added.
	commands atomic.Pointer[map[string]*command]
	mu       sync.Mutex
	unknown  *command
	other    *command
}

// command is one command label's series, looked up once.
type command struct {
	ok       prometheus.Counter
	duration prometheus.Observer
	vec      *prometheus.CounterVec
	name     string
	outcomes sync.Map // outcome code -> prometheus.Counter
}

// Build describes the running program for topicrpc_build_info.
type Build struct {
	Version   string // app.Version when empty
	Revision  string // the commit, when known
	GoVersion string
}

// New returns the collectors, not registered anywhere (see Register).
func New(build Build) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "topicrpc_server_requests_total",
			Help: "Requests the servers took, by command and outcome (ok, or the error code: unknown_command, bad_args, panic, deadline, unauthorized, expired, ...).",
		}, []string{"command", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "topicrpc_server_request_duration_seconds",
			Help:    "How long requests took, from taken to result, by command.",
			Buckets: DurationBuckets,
		}, []string{"command"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "topicrpc_server_replies_sent_total",
			Help: "Acks and progress replies of long requests, by kind (ack, progress) and result (ok, error: not sent).",
		}, []string{"kind", "result"}),
		presence: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "topicrpc_server_presence_messages_total",
			Help: "Presence messages announced, by kind (hello, heartbeat, goodbye) and result (ok, error).",
		}, []string{"kind", "result"}),
		register: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "topicrpc_server_register_writes_total",
			Help: "Writes of the servers' entries in the fleet register (record, refresh, goodbye), by result (ok, error).",
		}, []string{"result"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "topicrpc_transport_connection_lost_total",
			Help: "Times the connection to the broker was lost.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "topicrpc_transport_reconnects_total",
			Help: "Times the connection to the broker was made again after a loss.",
		}),
		build: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "topicrpc_build_info",
			Help: "Always 1: the version, commit and Go version of the running program.",
		}, []string{"version", "revision", "goversion"}),
	}
	m.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "topicrpc_server_requests_in_flight",
		Help: "Requests taken and not yet answered.",
	}, func() float64 { return float64(m.flying.Load()) })
	if build.Version == "" {
		build.Version = app.Version
	}
	m.build.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)
	m.unknown = m.newCommand(UnknownCommand)
	m.other = m.newCommand(OtherCommand)
	m.commands.Store(&map[string]*command{})
	return m
}

// Collectors returns every collector, to register on a registry of the
// caller's.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.inFlight, m.replies, m.presence, m.register,
		m.lost, m.reconnects, m.build}
}

// Register registers every collector on r; it stops at the first that fails
// (one of the same name is registered already, say).
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range m.Collectors() {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) newCommand(name string) *command {
	return &command{name: name, vec: m.requests, ok: m.requests.WithLabelValues(name, "ok"),
		duration: m.duration.WithLabelValues(name)}
}

// Middleware is the request-pipeline step counting every request a server
// takes (put it in app.ServerConfig.Middleware; first, to see the refusals
// of every other): it counts it in flight while it runs, then by command
// and outcome, and observes its duration (time.Since(in.Taken)). It
// allocates nothing per request once a command's series exist.
func (m *Metrics) Middleware(next app.Step) app.Step {
	return func(ctx context.Context, in app.Inbound) domain.Reply {
		m.flying.Add(1)
		defer m.flying.Add(-1) // a middleware inside may panic
		r := next(ctx, in)
		c := m.command(in.Request.Command.Name, r.Code)
		c.duration.Observe(time.Since(in.Taken).Seconds())
		c.count(r.Code)
		return r
	}
}

// command returns the series of a request for name that ended with code.
func (m *Metrics) command(name, code string) *command {
	if c, ok := (*m.commands.Load())[name]; ok {
		return c
	}
	if !ran(code) {
		return m.unknown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.commands.Load()
	if c, ok := old[name]; ok {
		return c
	}
	if len(old) >= MaxCommands {
		return m.other
	}
	next := make(map[string]*command, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	c := m.newCommand(name)
	next[name] = c
	m.commands.Store(&next)
	return c
}

// ran reports whether a request with outcome code may have reached a
// handler, and its command name be one of the server's. Only bad_args is in
// doubt: the server also answers it, before any lookup, to arguments over
// its size limit; MaxCommands bounds what such requests can add.
func ran(code string) bool {
	switch code {
	case "", domain.CodeFailed, domain.CodePanic, domain.CodeDeadline, domain.CodeBadArgs:
		return true
	}
	return false
}

// count counts one request with outcome code.
func (c *command) count(code string) {
	if code == "" {
		c.ok.Inc()
		return
	}
	if v, ok := c.outcomes.Load(code); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	v, _ := c.outcomes.LoadOrStore(code, c.vec.WithLabelValues(c.name, code))
	v.(prometheus.Counter).Inc()
}

var _ app.ServerObserver = (*Metrics)(nil)

// ReplySent counts an ack or progress reply (app.ServerObserver).
func (m *Metrics) ReplySent(kind domain.ReplyKind, err error) {
	m.replies.WithLabelValues(kind.String(), result(err)).Inc()
}

// PresenceSent counts a presence message (app.ServerObserver).
func (m *Metrics) PresenceSent(kind domain.PresenceKind, err error) {
	m.presence.WithLabelValues(kind.String(), result(err)).Inc()
}

// RegisterWritten counts a fleet register write (app.ServerObserver).
func (m *Metrics) RegisterWritten(err error) {
	m.register.WithLabelValues(result(err)).Inc()
}

// ConnectionLost counts a loss of the broker connection (amqp.Observer).
func (m *Metrics) ConnectionLost(error) { m.lost.Inc() }

// Reconnected counts a reconnection (amqp.Observer).
func (m *Metrics) Reconnected() { m.reconnects.Inc() }

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
