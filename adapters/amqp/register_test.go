package amqp_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// Writers on several connections at once lose no update: taking the
// register's message is the lock. A reader never waits for a register that
// was never written.
func TestRegisterUpdatesAreAtomicAcrossConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Track("fleet.register")
	trs := []ports.Register{e.Transport(t), e.Transport(t), e.Transport(t)}

	start := time.Now()
	g, err := trs[0].ReadRegister(testkit.Context(t, 5*time.Second))
	if err != nil || g.Len() != 0 {
		t.Fatalf("fresh register: %v, %d servers; want empty", err, g.Len())
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("reading a register never written took %v: it must not wait", took)
	}

	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, n)
	now := time.Now().Truncate(time.Millisecond)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("s%02d", i)
			errs <- trs[i%len(trs)].UpdateRegister(testkit.Context(t, 30*time.Second), func(g *domain.Register) error {
				return g.Join(domain.Registration{Server: name, Queue: name, Bindings: []string{"all.#"}, Started: now})
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	g, err = trs[1].ReadRegister(testkit.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != n {
		t.Fatalf("register holds %d servers after %d concurrent joins, want all", g.Len(), n)
	}
	r, _ := g.Get("s07")
	if !r.Started.Equal(now) || !r.Joined.Equal(now) || r.Bindings[0] != "all.#" {
		t.Errorf("s07 = %+v", r)
	}

	// fn's error leaves the register as it was.
	boom := fmt.Errorf("refused")
	if err := trs[2].UpdateRegister(testkit.Context(t, 5*time.Second), func(g *domain.Register) error {
		g.Forget("s01")
		return boom
	}); err == nil {
		t.Fatal("an update whose fn failed succeeded")
	}
	if g, _ := trs[0].ReadRegister(testkit.Context(t, 5*time.Second)); g == nil || g.Len() != n {
		t.Error("a failed update changed the register")
	}
}

// Consumers tells a served queue from an idle one and from none at all.
func TestConsumersCountsWhoServes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tr := e.Transport(t)
	e.Serve(t, tr, ports.Endpoint{Name: "up", Bindings: []string{"up.#"}}, echo("up"))
	idle := e.Serve(t, tr, ports.Endpoint{Name: "idle", Bindings: []string{"idle.#"}}, echo("idle"))
	if err := idle.Close(testkit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Consumers(testkit.Context(t, 5*time.Second), []string{"up", "nothing", "idle", "up"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, ports.NoQueue, 0, 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("consumers = %v, want %v", got, want)
	}
}
