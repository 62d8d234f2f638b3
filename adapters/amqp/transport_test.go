package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

var replyModes = []amqp.ReplyMode{amqp.ReplyDirect, amqp.ReplyQueue}

func withReplyMode(m amqp.ReplyMode) func(*amqp.Config) {
	return func(c *amqp.Config) { c.ReplyMode = m }
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, mode := range replyModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			srv, cli := e.Transport(t), e.Transport(t, withReplyMode(mode))
			seen := make(chan *domain.Request, 1)
			var deadline time.Time
			var hasDeadline bool
			e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1.#"}},
				func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
					deadline, hasDeadline = ctx.Deadline()
					seen <- req
					echo("s1")(ctx, req, rw)
				})

			req := request("s1", "echo", "hello, wörld")
			c := newCollector()
			if err := cli.Send(testkit.Context(t, 5*time.Second), req, c); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := c.Take(t, 1, 5*time.Second)[0]
			want := domain.Reply{CallID: req.ID, Server: "s1", Kind: domain.KindResult, Result: "s1:hello, wörld", Elapsed: got.Elapsed}
			if got != want {
				t.Errorf("reply = %+v, want %+v", got, want)
			}
			r := <-seen
			if r.ID != req.ID || r.Target != "s1" || r.Command != req.Command {
				t.Errorf("handler got %+v, want %+v", r, req)
			}
			if !r.Sent.Equal(req.Sent.Truncate(time.Millisecond)) || !r.Deadline.Equal(req.Deadline.Truncate(time.Millisecond)) {
				t.Errorf("handler got sent %v deadline %v, want %v and %v (ms)", r.Sent, r.Deadline, req.Sent, req.Deadline)
			}
			// The adapter applies no policy: the deadline is in the request
			// for the handler (app.Server's pipeline) to apply.
			if hasDeadline {
				t.Errorf("handler ctx has deadline %v; the adapter must leave it to the handler", deadline)
			}
		})
	}
}

func TestFanOutReachesOnlyMatchingServers(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	servers := map[string][]string{
		"s1": {"s1.#", "group1.#", "all.#"},
		"s2": {"s2.#", "group1.#", "all.#"},
		"s3": {"s3.#", "group2.#", "all.#"},
	}
	for name, bindings := range servers {
		e.Serve(t, srv, ports.Endpoint{Name: name, Bindings: bindings, Concurrency: 4}, echo(name))
	}
	tests := []struct {
		target string
		want   []string
	}{
		{"all", []string{"s1", "s2", "s3"}},
		{"group1", []string{"s1", "s2"}},
		{"group1.web", []string{"s1", "s2"}},
		{"group2", []string{"s3"}},
		{"s2", []string{"s2"}},
	}
	for _, tt := range tests {
		c := newCollector()
		req := request(tt.target, "echo", "x")
		if err := cli.Send(testkit.Context(t, 5*time.Second), req, c); err != nil {
			t.Fatalf("Send %s: %v", tt.target, err)
		}
		var got []string
		for _, r := range c.Take(t, len(tt.want), 5*time.Second) {
			if r.CallID != req.ID || !r.OK() || r.Result != r.Server+":x" {
				t.Errorf("%s: bad reply %+v", tt.target, r)
			}
			got = append(got, r.Server)
		}
		c.None(t, 150*time.Millisecond)
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s answered by %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestSeveralRepliesPerRequestArriveInOrder(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	const progress = 20
	h := func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		must := func(r domain.Reply) {
			if err := rw.Reply(ctx, r); err != nil {
				panic(err)
			}
		}
		must(domain.Reply{Kind: domain.KindAck})
		for i := range progress {
			must(domain.Reply{Kind: domain.KindProgress, Result: fmt.Sprint(i)})
		}
		must(domain.Reply{Kind: domain.KindResult, Result: "done", Elapsed: 42 * time.Millisecond})
	}
	for _, name := range []string{"a", "b", "c"} {
		e.Serve(t, srv, ports.Endpoint{Name: name, Bindings: []string{"all.#"}}, h)
	}
	c := newCollector()
	req := request("all", "work", "")
	if err := cli.Send(testkit.Context(t, 5*time.Second), req, c); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{} // per server: replies seen
	for _, r := range c.Take(t, 3*(progress+2), 5*time.Second) {
		i := next[r.Server]
		next[r.Server]++
		switch {
		case i == 0 && r.Kind == domain.KindAck:
		case i >= 1 && i <= progress && r.Kind == domain.KindProgress && r.Result == fmt.Sprint(i-1):
		case i == progress+1 && r.Kind == domain.KindResult && r.OK() && r.Result == "done" && r.Elapsed == 42*time.Millisecond:
		default:
			t.Fatalf("reply %d from %s is %+v", i, r.Server, r)
		}
	}
}

func TestNoRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cli := e.Transport(t)
	start := time.Now()
	err := cli.Send(testkit.Context(t, 5*time.Second), request("group9", "echo", ""), newCollector())
	if !errors.Is(err, ports.ErrNoRoute) {
		t.Fatalf("Send = %v, want ErrNoRoute", err)
	}
	if got, want := err.Error(), "send group9: no server matched group9"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("no route took %v", d)
	}
}

// TestConcurrentSendsMatchReturns sends routable and unroutable requests from
// many goroutines at once: each Send must tell its own fate.
func TestConcurrentSendsMatchReturns(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"yes.#"}, Concurrency: 8}, echo("s1"))
	const workers, each = 32, 30
	c := newCollector()
	var routed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				target := "yes"
				if (w+i)%3 == 0 {
					target = "no"
				}
				err := cli.Send(testkit.Context(t, 10*time.Second), request(target, "echo", ""), c)
				switch {
				case target == "yes" && err == nil:
					routed.Add(1)
				case target == "no" && errors.Is(err, ports.ErrNoRoute):
				default:
					t.Errorf("Send to %s: %v", target, err)
				}
			}
		})
	}
	wg.Wait()
	c.Take(t, int(routed.Load()), 10*time.Second)
	c.None(t, 100*time.Millisecond)
}

func TestCompetingConsumersShareAQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cli := e.Transport(t)
	var mu sync.Mutex
	handled := map[string][]string{} // call ID → servers that ran it
	for _, name := range []string{"w1", "w2", "w3"} {
		srv := e.Transport(t)
		e.Serve(t, srv, ports.Endpoint{Name: name, Queue: "work", Bindings: []string{"work.#"}, Concurrency: 2},
			func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
				mu.Lock()
				handled[req.ID] = append(handled[req.ID], name)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				echo(name)(ctx, req, rw)
			})
	}
	const n = 60
	c := newCollector()
	for range n {
		if err := cli.Send(testkit.Context(t, 5*time.Second), request("work", "echo", ""), c); err != nil {
			t.Fatal(err)
		}
	}
	c.Take(t, n, 10*time.Second)
	c.None(t, 100*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	perServer := map[string]int{}
	for id, servers := range handled {
		if len(servers) != 1 {
			t.Errorf("%s handled by %v", id, servers)
		}
		perServer[servers[0]]++
	}
	if len(handled) != n {
		t.Errorf("%d requests handled, want %d", len(handled), n)
	}
	t.Logf("requests per server: %v", perServer)
}

func TestHandlerRunsAtMostConcurrencyAtOnce(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{0, 1, 3} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			t.Parallel()
			e, srv, cli := newPair(t)
			var running, peak atomic.Int32
			e.Serve(t, srv, ports.Endpoint{Name: "s", Bindings: []string{"s"}, Concurrency: conc},
				func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
					n := running.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(20 * time.Millisecond)
					running.Add(-1)
					echo("s")(ctx, req, rw)
				})
			c := newCollector()
			const n = 12
			for range n {
				if err := cli.Send(testkit.Context(t, 5*time.Second), request("s", "echo", ""), c); err != nil {
					t.Fatal(err)
				}
			}
			c.Take(t, n, 10*time.Second)
			want := int32(max(conc, 1))
			if p := peak.Load(); p != want {
				t.Errorf("peak concurrency %d, want %d", p, want)
			}
		})
	}
}

func TestServeRejectsBadEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tr := e.Transport(t)
	long := string(make([]byte, 300))
	for _, ep := range []ports.Endpoint{
		{Name: "", Bindings: []string{"a"}},
		{Name: "ok", Bindings: []string{long}},
		{Name: long, Bindings: []string{"a"}},
		{Name: "ok", Queue: long[:250], Bindings: []string{"a"}},
	} {
		sub, err := tr.Serve(testkit.Context(t, 5*time.Second), ep, echo("x"))
		if !errors.Is(err, ports.ErrBadEndpoint) {
			t.Errorf("Serve(%.20q) = %v, want ErrBadEndpoint", ep.Name, err)
		}
		if sub != nil {
			t.Errorf("Serve(%.20q) returned a subscription", ep.Name)
		}
	}
}

func TestRoutesUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tr := e.Transport(t)
	if _, err := tr.Routes(context.Background(), "all"); !errors.Is(err, ports.ErrRoutesUnknown) {
		t.Errorf("Routes = %v, want ErrRoutesUnknown", err)
	}
}

func TestForgetDropsLaterReplies(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	release := make(chan struct{})
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}},
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			<-release
			echo("s1")(ctx, req, rw)
		})
	c := newCollector()
	req := request("s1", "echo", "")
	if err := cli.Send(testkit.Context(t, 5*time.Second), req, c); err != nil {
		t.Fatal(err)
	}
	cli.Forget(req.ID)
	cli.Forget(req.ID) // idempotent
	close(release)
	c.None(t, 300*time.Millisecond)
	if n := cli.DroppedReplies(); n != 1 {
		t.Errorf("DroppedReplies = %d, want 1", n)
	}
}
