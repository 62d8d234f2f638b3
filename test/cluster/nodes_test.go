package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// reportEnv names a file the figures are written to, when set.
const reportEnv = "TOPICRPC_CLUSTER_REPORT"

const (
	serveAgainWithin = 20 * time.Second // the goal: a server whose node died serves again within it
	callTimeout      = 2 * time.Second
	jobs             = 30
	jobTime          = 100 * time.Millisecond
)

// fleet is three servers and a client on the cluster, each connected to a
// node of its own choosing: s<i> to node i, the client to node 1. Each is
// given every node, from its own first (OrderedURLs), so that where it
// fails over to is known: s2 from node 2 to node 3, the client and s1 from
// node 1 to node 2. s2 alone serves the work group "jobs".
type fleet struct {
	c       *brokertest.Cluster
	servers map[string]*amqp.Transport
	client  *amqp.Transport
	cli     *app.Client

	mu  sync.Mutex
	ran map[string]int // job id → times a job handler ran to completion
}

func newFleet(t *testing.T, c *brokertest.Cluster) *fleet {
	log := testkit.LoggerAt(t, slog.LevelInfo)
	ns := amqptest.New(t, testkit.Broker{URL: c.URLs[0], ManagementURL: c.ManagementURL}, "cluster")
	on := func(name string, first int) *amqp.Transport {
		urls := slices.Concat(c.URLs[first-1:], c.URLs[:first-1])
		tr := ns.Transport(t, func(cfg *amqp.Config) {
			cfg.URL, cfg.URLs, cfg.OrderedURLs = "", urls, true
			cfg.ConnectionName, cfg.Logger = "cluster-"+name, log.With("conn", name)
		})
		if got := c.Node(tr.Node()); got != first {
			t.Fatalf("%s connected to node %d, want node %d", name, got, first)
		}
		return tr
	}
	f := &fleet{c: c, servers: map[string]*amqp.Transport{}, ran: map[string]int{}}
	for i, name := range []string{"s1", "s2", "s3"} {
		tr := on(name, i+1)
		f.servers[name] = tr
		cfg := app.ServerConfig{Name: name, NoWorkGroups: true}
		if name == "s2" {
			cfg.NoWorkGroups, cfg.WorkGroups = false, []string{"jobs"}
		}
		srv := app.NewServer(tr, cfg, log.With("server", name))
		if err := srv.Handle("job", f.job); err != nil {
			t.Fatal(err)
		}
		testkit.Start(t, srv, 5*time.Second)
	}
	f.client = on("client", 1)
	f.cli = app.NewClient(f.client, app.ClientConfig{}, log.With("client", "c"))
	return f
}

// job is the handler of the jobs: it works jobTime, then records that the
// job ran. A job whose context ends first (its server's connection broke)
// did not run; the broker gives it to a consumer again.
func (f *fleet) job(ctx context.Context, id string) (string, error) {
	select {
	case <-time.After(jobTime):
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	f.mu.Lock()
	f.ran[id]++
	f.mu.Unlock()
	return "done " + id, nil
}

// nodeOf returns the node the transport of name is connected to.
func (f *fleet) nodeOf(name string) int {
	if name == "client" {
		return f.c.Node(f.client.Node())
	}
	return f.c.Node(f.servers[name].Node())
}

// result is how one call to "all" ended.
type result struct {
	ok         bool // every server answered ok, and the register expected all three
	why        string
	silent     []string
	start, end time.Time
}

// callAll calls echo on all within timeout.
func (f *fleet) callAll(timeout time.Duration, cmd domain.Command) result {
	r := result{start: time.Now()}
	defer func() { r.end = time.Now() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := f.cli.Call(ctx, "all", cmd)
	if err != nil {
		r.why = err.Error()
		r.end = time.Now()
		return r
	}
	for range cl.Replies() {
	}
	s := cl.Summary()
	r.ok = s.OK == 3 && s.Expected == 3 && len(s.SilentServers) == 0
	r.silent = s.SilentServers
	r.why = fmt.Sprintf("%s: %d ok of %d expected, silent %v, failed %v, down %v",
		s.Reason, s.OK, s.Expected, s.SilentServers, s.FailedServers, s.DownServers)
	r.end = time.Now()
	return r
}

// during runs op (a node stop) while calling all in a loop, and goes on
// calling after op returned until every server answers, at most within.
// It returns when op began and returned, the end of the first call started
// after that which all answered (zero if none), and the calls that failed
// from the start to then.
func (f *fleet) during(t *testing.T, within time.Duration, op func() error) (began, opDone, servedAgain time.Time, failed []result) {
	t.Helper()
	began = time.Now()
	opErr := make(chan error, 1)
	go func() { opErr <- op() }()
	var err error
	var deadline time.Time
	for ; deadline.IsZero() || time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if opDone.IsZero() {
			select {
			case err = <-opErr:
				opDone, deadline = time.Now(), time.Now().Add(within)
			default:
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		r := f.callAll(callTimeout, domain.Command{Name: "echo", Args: "again"})
		switch {
		case !r.ok:
			failed = append(failed, r)
		case !opDone.IsZero() && r.start.After(opDone):
			return began, opDone, r.end, failed
		}
	}
	return began, opDone, time.Time{}, failed
}

// TestLosingNodes runs the fleet through the loss of nodes, in order:
//
//  1. Node 2 is killed (SIGKILL) with 30 jobs queued for s2 in the quorum
//     work queue whose leader is on node 2: s2 serves again through node 3
//     within 20 s, every job runs (at most the one in flight twice: at
//     least once), the register still expects all three servers, and calls
//     name nobody silent.
//  2. Node 2 starts again on its data and rejoins the cluster.
//  3. Node 1, the client's and s1's, is stopped while a call is in flight:
//     that call ends by its deadline naming the servers that did not
//     answer; the client and s1 fail over to node 2, which takes their work
//     again, and every server answers.
//
// The figures are logged in one line and written to $TOPICRPC_CLUSTER_REPORT.
func TestLosingNodes(t *testing.T) {
	c := requireCluster(t)
	f := newFleet(t, c)
	if r := f.callAll(callTimeout, domain.Command{Name: "echo", Args: "before"}); !r.ok {
		t.Fatalf("before any fault: %s", r.why)
	}
	var figures []string

	t.Run("server's node killed", func(t *testing.T) {
		// Queue the jobs, then kill the node: at most one is in flight.
		type jobResult struct {
			id  string
			why string // how the call ended, when not ok
			ok  bool
		}
		done := make(chan jobResult, jobs)
		var sent sync.WaitGroup
		for i := range jobs {
			id := "j" + strconv.Itoa(i)
			sent.Add(1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cl, err := f.cli.Call(ctx, "jobs", domain.Command{Name: "job", Args: id}, app.Balanced())
				sent.Done()
				if err != nil {
					done <- jobResult{id: id, why: err.Error()}
					return
				}
				for range cl.Replies() {
				}
				sum := cl.Summary()
				done <- jobResult{id: id, ok: sum.OK == 1, why: sum.Reason.String()}
			}()
		}
		sent.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		killed, _, servedAgain, failed := f.during(t, serveAgainWithin+10*time.Second, func() error { return c.KillNode(ctx, 2) })
		if servedAgain.IsZero() {
			t.Fatalf("the servers did not all answer again within %v of the kill; last: %s", serveAgainWithin+10*time.Second, failed[len(failed)-1].why)
		}
		took := servedAgain.Sub(killed)
		if took > serveAgainWithin {
			t.Errorf("s2 served again %v after its node was killed, want within %v", took.Round(time.Millisecond), serveAgainWithin)
		}
		if n := f.nodeOf("s2"); n != 3 {
			t.Errorf("s2 is on node %d, want node 3 (the next in its list)", n)
		}
		for _, r := range failed {
			t.Logf("failed during the failover: %s", r.why)
		}

		// Every job ran; at most the one in flight twice.
		var errs []string
		for range jobs {
			select {
			case r := <-done:
				if !r.ok {
					errs = append(errs, r.id+": "+r.why)
				}
			case <-time.After(time.Minute):
				t.Fatal("the jobs' calls did not all end within a minute")
			}
		}
		f.mu.Lock()
		lost, twice := 0, 0
		for i := range jobs {
			switch n := f.ran["j"+strconv.Itoa(i)]; {
			case n == 0:
				lost++
			case n > 1:
				twice++
			}
		}
		f.mu.Unlock()
		if len(errs) > 0 {
			t.Errorf("job calls without their result: %v", errs)
		}
		if lost > 0 || twice > 1 {
			t.Errorf("jobs: %d of %d never ran, %d ran twice; want none lost, at most the one in flight twice", lost, jobs, twice)
		}
		// The register still knows all three: callAll's ok requires
		// Expected == 3 and nobody silent.
		if r := f.callAll(callTimeout, domain.Command{Name: "echo", Args: "after"}); !r.ok {
			t.Errorf("after the failover: %s", r.why)
		}
		figures = append(figures, fmt.Sprintf("node 2 killed: all 3 servers answered again after %.1fs (s2 through node 3), "+
			"%d calls failed meanwhile; %d jobs queued, %d lost, %d run twice",
			took.Seconds(), len(failed), jobs, lost, twice))
	})
	if t.Failed() {
		return
	}

	t.Run("node restarted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		begin := time.Now()
		if err := c.StartNode(ctx, 2); err != nil {
			t.Fatal(err)
		}
		figures = append(figures, fmt.Sprintf("node 2 restarted and rejoined in %.1fs", time.Since(begin).Seconds()))
	})
	if t.Failed() {
		return
	}

	t.Run("client's node stopped", func(t *testing.T) {
		const inFlightTimeout = 6 * time.Second
		inFlight := make(chan result, 1)
		go func() { inFlight <- f.callAll(inFlightTimeout, domain.Command{Name: "sleep", Args: "3s"}) }()
		time.Sleep(200 * time.Millisecond) // sent: the servers sleep
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		began, stopped, servedAgain, failed := f.during(t, serveAgainWithin+10*time.Second, func() error { return c.StopNode(ctx, 1) })
		var r result
		select {
		case r = <-inFlight:
		case <-time.After(inFlightTimeout + 5*time.Second):
			t.Fatalf("the call in flight did not end within 5 s of its deadline")
		}
		t.Logf("the call in flight when the client's node stopped: %s", r.why)
		if !r.ok && len(r.silent) == 0 && !strings.Contains(r.why, "failed [s") {
			t.Errorf("the call in flight failed without naming the servers: %s", r.why)
		}
		if servedAgain.IsZero() {
			t.Fatalf("the servers did not all answer again within %v of the stop; last: %s", serveAgainWithin+10*time.Second, failed[len(failed)-1].why)
		}
		for _, r := range failed {
			t.Logf("failed during the failover: %s", r.why)
		}
		for _, who := range []string{"client", "s1"} {
			if n := f.nodeOf(who); n != 2 {
				t.Errorf("%s is on node %d, want node 2 (restarted, next in its list)", who, n)
			}
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl, err := f.cli.Call(ctx, "jobs", domain.Command{Name: "job", Args: "last"}, app.Balanced())
		if err != nil {
			t.Fatalf("a job after the failover: %v", err)
		}
		for range cl.Replies() {
		}
		if s := cl.Summary(); s.OK != 1 {
			t.Errorf("a job after the failover: %d ok", s.OK)
		}
		figures = append(figures, fmt.Sprintf("node 1 (the client's) stopped in %.1fs (graceful): the call in flight ended after %.1fs (%s); "+
			"all 3 servers answered again %.1fs after the stop began, %d calls failed meanwhile",
			stopped.Sub(began).Seconds(), r.end.Sub(r.start).Seconds(), r.why, servedAgain.Sub(began).Seconds(), len(failed)))
		if took := servedAgain.Sub(began); took > serveAgainWithin {
			t.Errorf("the servers served again %v after node 1's stop began, want within %v", took.Round(time.Millisecond), serveAgainWithin)
		}
	})

	line := strings.Join(figures, "; ")
	t.Log(line)
	if path := os.Getenv(reportEnv); path != "" {
		if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
			t.Errorf("write %s: %v", reportEnv, err)
		}
	}
}
