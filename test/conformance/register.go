package conformance

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// registerOf returns tr's fleet register; the transport declares it keeps one.
func registerOf(t *testing.T, tr ports.Transport) ports.Register {
	t.Helper()
	reg, ok := tr.(ports.Register)
	if !ok {
		t.Fatalf("%T declares Features.Register but does not implement ports.Register", tr)
	}
	return reg
}

// crashed registers name as app.Server does, serves its queue with h, then
// closes the subscription without a goodbye: the server is gone as a killed
// process is.
func crashed(t *testing.T, tr ports.Transport, name string, h ports.Handler, bindings ...string) {
	t.Helper()
	reg := registerOf(t, tr)
	ep := ports.Endpoint{Name: name, Bindings: append([]string{"all.#", name + ".#"}, bindings...)}
	sub := serve(t, tr, ep, h)
	now := time.Now()
	if err := reg.UpdateRegister(t.Context(), func(g *domain.Register) error {
		return g.Join(domain.Registration{Server: name, Queue: name, Bindings: ep.Bindings, Started: now})
	}); err != nil {
		t.Fatal(err)
	}
	closeNow(t, sub)
}

// testRegisterStates: a call names every registered server its target
// reaches: up ones answer, a stopped one (goodbye) and a down one (no
// consumer, no goodbye) are named at once without being waited for, and a
// frozen one (consuming, never answering) is not received at the deadline.
func testRegisterStates(t *testing.T, f Factory, feat Features) {
	if !feat.Register {
		return // declared: this transport keeps no register
	}
	tr := f(t)
	quiet := slog.New(slog.DiscardHandler)
	up := pipelineServer(t, tr, "up1", app.ServerConfig{Bindings: []string{"g.#"}}, &outcomes{})
	_ = up
	stopped := app.NewServer(tr, app.ServerConfig{Name: "stop1", Bindings: []string{"g.#", "gone.#"}}, quiet)
	if err := stopped.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := stopped.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	crashed(t, tr, "down1", echo("down1"), "g.#", "gone.#")
	frozen := make(chan struct{})
	serve(t, tr, ports.Endpoint{Name: "frozen1", Bindings: []string{"g.#"}},
		func(ctx context.Context, _ *domain.Request, _ ports.ReplyWriter) {
			select { // never answers, as a SIGSTOPped process
			case <-frozen:
			case <-ctx.Done():
			}
		})
	t.Cleanup(func() { close(frozen) }) // runs before the subscription's Close
	if err := registerOf(t, tr).UpdateRegister(t.Context(), func(g *domain.Register) error {
		return g.Join(domain.Registration{Server: "frozen1", Queue: "frozen1", Bindings: []string{"g.#"}, Started: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}

	c := app.NewClient(tr, app.ClientConfig{Timeout: wait}, quiet)
	// The gone ones alone: the call ends at once, naming both.
	start := time.Now()
	sum, outs, err := c.Do(t.Context(), "gone", domain.Command{Name: "echo", Args: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > wait/2 || sum.Reason != domain.DoneAllReplied {
		t.Errorf("a call to servers all gone took %v (%v); it must not wait for them", took, sum.Reason)
	}
	if sum.Expected != 2 || sum.Down != 1 || sum.Stopped != 1 || sum.OK != 0 ||
		!slices.Equal(sum.DownServers, []string{"down1"}) || !slices.Equal(sum.StoppedServers, []string{"stop1"}) {
		t.Errorf("gone: summary %+v", sum)
	}
	for _, o := range outs {
		if o.LastSeen.IsZero() {
			t.Errorf("%s (%v) has no last-seen time", o.Server, o.State)
		}
	}

	// The whole group, with a short deadline for the frozen one.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	sum, outs, err = c.Do(ctx, "g", domain.Command{Name: "echo", Args: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]domain.State{"up1": domain.StateOK, "stop1": domain.StateStopped,
		"down1": domain.StateDown, "frozen1": domain.StateNotReceived}
	got := map[string]domain.State{}
	for _, o := range outs {
		got[o.Server] = o.State
	}
	if len(got) != len(want) {
		t.Errorf("g: outcomes %v, want %v", got, want)
	}
	for name, st := range want {
		if got[name] != st {
			t.Errorf("g: %s is %v, want %v", name, got[name], st)
		}
	}
	if sum.Reason != domain.DoneDeadline || sum.Expected != 4 {
		t.Errorf("g: summary %+v, want 4 expected, ended at the deadline (frozen1)", sum)
	}
}

// testDuplicateName: a second server with the name of a running one
// refuses to start, naming the first; once the first stopped, the name is
// free again.
func testDuplicateName(t *testing.T, f Factory, feat Features) {
	if !feat.Register {
		return // declared: this transport keeps no register
	}
	tr := f(t)
	quiet := slog.New(slog.DiscardHandler)
	first := app.NewServer(tr, app.ServerConfig{Name: "twin"}, quiet)
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := app.NewServer(tr, app.ServerConfig{Name: "twin"}, quiet)
	err := second.Start(t.Context())
	if !errors.Is(err, app.ErrDuplicateServer) {
		t.Fatalf("second twin started: %v, want ErrDuplicateServer", err)
	}
	if err := first.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	third := app.NewServer(tr, app.ServerConfig{Name: "twin"}, quiet)
	if err := third.Start(t.Context()); err != nil {
		t.Fatalf("restart after the first stopped: %v", err)
	}
	t.Cleanup(func() { _ = third.Stop(context.Background()) })
	g, err := registerOf(t, tr).ReadRegister(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := g.Get("twin"); !ok || !r.Left.IsZero() || r.Joined.After(r.Started) {
		t.Errorf("register has %+v (registered %v), want twin up, joined before its restart", r, ok)
	}
}
