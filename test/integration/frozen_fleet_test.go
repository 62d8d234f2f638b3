package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/test/internal/bintest"
)

// TestFrozenFleet: 1,000 calls to a fleet of 10 topicrpcd processes, one of
// them frozen with SIGSTOP (it neither acknowledges nor answers, and its
// connection stays open until the broker's heartbeat gives up on it). The
// client knows from the fleet register that the frozen server should
// answer. Every call must end by its 1 s deadline (plus 500 ms slack) with
// the frozen server not received (down, without being waited for, once
// the broker closed its connection) and the nine others ok.
func TestFrozenFleet(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: 1,000 calls of 1 s each take about 25 s")
	}
	const (
		servers  = 10
		calls    = 1000
		callers  = 40
		deadline = time.Second
		slack    = 500 * time.Millisecond
	)
	f := newFleet(t, true)
	procs := make([]*bintest.Proc, servers)
	for i := range servers {
		procs[i] = f.server(fmt.Sprintf("f%02d", i), "--concurrency", "8")
	}
	frozen := fmt.Sprintf("f%02d", servers-1)
	if err := procs[servers-1].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Runs before the fleet's SIGTERM: a stopped process would not handle it.
	t.Cleanup(func() { _ = procs[servers-1].Process.Signal(syscall.SIGCONT) })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tr, err := amqp.New(ctx, amqp.Config{URL: f.b.URL, Exchange: f.ns, QueuePrefix: f.ns + ".",
		ManagementURL: f.b.ManagementURL, RoutesTTL: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	c := app.NewClient(tr, app.ClientConfig{}, slog.New(slog.DiscardHandler))

	results := make([]frozenResult, calls)
	jobs := make(chan int)
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := range jobs {
				results[i] = frozenCall(t.Context(), c, deadline, frozen, servers)
			}
		})
	}
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(start)

	var took []time.Duration
	var maxOver time.Duration
	problems := 0
	for i, r := range results {
		took = append(took, r.took)
		maxOver = max(maxOver, r.over)
		if r.problem != "" {
			if problems++; problems <= 5 {
				t.Errorf("call %d: %s", i, r.problem)
			}
		}
		if r.over > slack {
			t.Errorf("call %d ended %v past its deadline (slack %v)", i, r.over, slack)
		}
	}
	slices.Sort(took)
	t.Logf("%d calls to %d servers (1 frozen with SIGSTOP), %d callers, %v deadline: every call ended by its deadline; "+
		"max overshoot %v, call time p50 %v p99 %v max %v; %d calls with a wrong outcome; %v in all",
		calls, servers, callers, deadline, maxOver.Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond),
		took[len(took)*99/100].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), problems, wall.Round(time.Millisecond))
}

// frozenResult is how one call went: its length, how far past its
// deadline it ended, and what was wrong with its outcome ("" if nothing).
type frozenResult struct {
	took, over time.Duration
	problem    string
}

// frozenCall makes one call to all with a deadline and checks its outcome:
// the frozen server not received, every other ok.
func frozenCall(ctx context.Context, c *app.Client, deadline time.Duration, frozen string, servers int) (r frozenResult) {
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(deadline))
	defer cancel()
	sum, outs, err := c.Do(ctx, "all", domain.Command{Name: "echo", Args: "frozen?"})
	end := time.Now()
	r.took, r.over = end.Sub(start), max(end.Sub(start.Add(deadline)), 0)
	switch {
	case err != nil:
		r.problem = err.Error()
	case sum.Expected != servers || sum.OK != servers-1 || sum.NotReceived+sum.Down != 1 || len(outs) != servers:
		r.problem = fmt.Sprintf("summary %+v", sum)
	default:
		for _, o := range outs {
			// Not received while its connection stays open; down once the
			// broker gave up on its heartbeats and closed it (about 20 s
			// into the test with the 10 s heartbeat): its queue has no
			// consumer from then on.
			if o.Server == frozen && o.State != domain.StateNotReceived && o.State != domain.StateDown {
				r.problem = fmt.Sprintf("the frozen server is %s", o.State)
			}
			if o.Server != frozen && o.State != domain.StateOK {
				r.problem = fmt.Sprintf("%s is %s", o.Server, o.State)
			}
		}
	}
	return r
}
