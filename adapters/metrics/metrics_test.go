package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/topicrpc/topicrpc/adapters/metrics"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// registered returns fresh metrics on a registry of their own.
func registered(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	m := metrics.New(metrics.Build{Revision: "abc", GoVersion: "go1.x"})
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// requests returns topicrpc_server_requests_total{command,outcome}.
func requests(t *testing.T, reg *prometheus.Registry, command, outcome string) float64 {
	t.Helper()
	return value(t, reg, "topicrpc_server_requests_total", map[string]string{"command": command, "outcome": outcome})
}

// value returns the value of the series of name with labels (a histogram's
// sample count), 0 when there is none.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v, _ := testkit.Sample(mf, labels)
			return v
		}
	}
	return 0
}

// TestMiddlewareCountsEveryRequest runs requests through a server with the
// middleware: each is counted by command and outcome, timed, and no longer
// in flight once answered.
func TestMiddlewareCountsEveryRequest(t *testing.T) {
	t.Parallel()
	m, reg := registered(t)
	tr := testkit.MemoryTransport(t)
	s := app.NewServer(tr, app.ServerConfig{Name: "web1", Middleware: []app.Middleware{m.Middleware}}, testkit.Logger(t))
	testkit.Start(t, s, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: 5 * time.Second}, testkit.Logger(t))
	ctx := testkit.Context(t, 10*time.Second)
	for _, cmd := range []domain.Command{{Name: "echo", Args: "a"}, {Name: "echo", Args: "b"}, {Name: "fib", Args: "x"}, {Name: "nope"}} {
		if _, _, err := c.Do(ctx, "web1", cmd); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		command, outcome string
		want             float64
	}{
		{"echo", "ok", 2},
		{"fib", "bad_args", 1},
		{"_unknown", "unknown_command", 1},
		{"nope", "unknown_command", 0},
	} {
		if got := requests(t, reg, tc.command, tc.outcome); got != tc.want {
			t.Errorf("requests{command=%q,outcome=%q} = %v, want %v", tc.command, tc.outcome, got, tc.want)
		}
	}
	if got := value(t, reg, "topicrpc_server_request_duration_seconds", map[string]string{"command": "echo"}); got != 2 {
		t.Errorf("echo durations observed: %v, want 2", got)
	}
	if got := testutil.ToFloat64(collector(t, m, "topicrpc_server_requests_in_flight")); got != 0 {
		t.Errorf("in flight after the calls: %v, want 0", got)
	}
}

// collector returns m's collector of the metric name.
func collector(t *testing.T, m *metrics.Metrics, name string) prometheus.Collector {
	t.Helper()
	for _, c := range m.Collectors() {
		ch := make(chan *prometheus.Desc, 8)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if strings.Contains(d.String(), `"`+name+`"`) {
				return c
			}
		}
	}
	t.Fatalf("no collector %s", name)
	return nil
}

// step runs one request for name through the middleware around next.
func step(m *metrics.Metrics, name string, next app.Step) domain.Reply {
	in := app.Inbound{Request: &domain.Request{ID: "c1", Command: domain.Command{Name: name}}, Taken: time.Now(), Server: "s"}
	return m.Middleware(next)(context.Background(), in)
}

func returns(code string) app.Step {
	return func(context.Context, app.Inbound) domain.Reply { return domain.Reply{Code: code} }
}

// TestInFlight counts a request in flight while the steps inside run, and
// not once they returned, even by panicking.
func TestInFlight(t *testing.T) {
	t.Parallel()
	m, _ := registered(t)
	gauge := collector(t, m, "topicrpc_server_requests_in_flight")
	var inside float64
	step(m, "echo", func(context.Context, app.Inbound) domain.Reply {
		inside = testutil.ToFloat64(gauge)
		return domain.Reply{}
	})
	if inside != 1 {
		t.Errorf("in flight while running: %v, want 1", inside)
	}
	if got := testutil.ToFloat64(gauge); got != 0 {
		t.Errorf("in flight after: %v, want 0", got)
	}
	func() {
		defer func() { _ = recover() }()
		step(m, "echo", func(context.Context, app.Inbound) domain.Reply { panic("inside") })
	}()
	if got := testutil.ToFloat64(gauge); got != 0 {
		t.Errorf("in flight after a panic: %v, want 0", got)
	}
}

// TestCommandLabelsBounded: names from the wire that no handler ran share
// one label, whatever the outcome; names that ran get their own, at most
// MaxCommands of them.
func TestCommandLabelsBounded(t *testing.T) {
	t.Parallel()
	m, reg := registered(t)
	refusals := []string{domain.CodeUnknownCommand, domain.CodeUnauthorized, domain.CodeExpired, domain.CodeBadRequest, domain.CodeUnavailable}
	for i := range 1000 {
		step(m, fmt.Sprintf("junk%d", i), returns(refusals[i%len(refusals)]))
	}
	for _, code := range refusals {
		if got := requests(t, reg, metrics.UnknownCommand, code); got != 200 {
			t.Errorf("requests{%s,%s} = %v, want 200", metrics.UnknownCommand, code, got)
		}
	}
	step(m, "echo", returns(""))
	step(m, "echo", returns(domain.CodeExpired)) // echo ran before: its own label now
	if got := requests(t, reg, "echo", domain.CodeExpired); got != 1 {
		t.Errorf("requests{echo,expired} = %v, want 1", got)
	}
	for i := range metrics.MaxCommands + 10 {
		step(m, fmt.Sprintf("cmd%d", i), returns(domain.CodeFailed))
	}
	if got := requests(t, reg, metrics.OtherCommand, domain.CodeFailed); got != 11 { // echo took one slot
		t.Errorf("requests{%s,failed} = %v, want 11", metrics.OtherCommand, got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "command" {
					names[l.GetValue()] = true
				}
			}
		}
	}
	if len(names) != metrics.MaxCommands+2 { // and _unknown, _other
		t.Errorf("%d command labels, want %d", len(names), metrics.MaxCommands+2)
	}
}

// TestObserverCounts: a server with the metrics as its observer counts its
// acks, presence messages and register writes.
func TestObserverCounts(t *testing.T) {
	t.Parallel()
	m, reg := registered(t)
	tr := testkit.MemoryTransport(t)
	s := app.NewServer(tr, app.ServerConfig{Name: "web1", AckDelay: app.AckAtOnce, Observer: m}, testkit.Logger(t))
	if err := s.Start(testkit.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c := app.NewClient(tr, app.ClientConfig{Timeout: 5 * time.Second}, testkit.Logger(t))
	if _, _, err := c.Do(testkit.Context(t, 10*time.Second), "web1", domain.Command{Name: "echo"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(testkit.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"topicrpc_server_replies_sent_total", map[string]string{"kind": "ack", "result": "ok"}, 1},
		{"topicrpc_server_presence_messages_total", map[string]string{"kind": "hello", "result": "ok"}, 1},
		{"topicrpc_server_presence_messages_total", map[string]string{"kind": "goodbye", "result": "ok"}, 1},
		{"topicrpc_server_register_writes_total", map[string]string{"result": "ok"}, 2}, // recorded, goodbye
		{"topicrpc_build_info", map[string]string{"version": app.Version, "revision": "abc"}, 1},
	} {
		if got := value(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
