package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// One Transport holds far more servers than a channel per consumer would
// allow (about 511 with RabbitMQ's default channel_max of 2,047): here 600,
// each set up as app.Server does by default (its queue, two work groups, a
// watcher of queries), on one channel each, plus one the watchers share and
// the publishing channel. They all serve, take balanced work, and hear a
// query; none hears another's hello.
func TestManyServersOnOneConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 600 servers")
	}
	t.Parallel()
	const n = 600
	e := presenceEnv(t)
	name := "topicrpc-test-many-" + strings.ToLower(e.Exchange[len(e.Exchange)-8:])
	srv := e.Transport(t, func(c *amqp.Config) { c.ConnectionName = name })
	cli := e.Transport(t)
	e.Track("work.all")

	var queries atomic.Int64
	subs := make([]ports.Subscription, n)
	watchers := make([]ports.Subscription, n)
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				s := fmt.Sprintf("s%03d", i)
				e.Track(s)
				e.Track("work." + s)
				ep := ports.Endpoint{Name: s, Bindings: []string{"all.#", s + ".#"}, WorkGroups: []string{"all", s}, Concurrency: 4}
				sub, err := srv.Serve(testkit.Context(t, 30*time.Second), ep, echo(s))
				if err != nil {
					errs <- fmt.Errorf("server %d: Serve: %w", i, err)
					return
				}
				subs[i] = sub
				w, err := srv.WatchPresence(testkit.Context(t, 30*time.Second), ports.WatchQueries, func(p domain.Presence) {
					if p.Kind == domain.PresenceQuery {
						queries.Add(1)
						return
					}
					select {
					case errs <- fmt.Errorf("server %d's watcher got a %s from %q", i, p.Kind, p.Server):
					default:
					}
				})
				if err != nil {
					errs <- fmt.Errorf("server %d: WatchPresence: %w", i, err)
					return
				}
				watchers[i] = w
				if err := srv.Announce(testkit.Context(t, 30*time.Second), hello(s, i)); err != nil {
					errs <- fmt.Errorf("server %d: Announce: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range n {
			if watchers[i] != nil {
				if err := watchers[i].Close(ctx); err != nil {
					t.Errorf("close watcher %d: %v", i, err)
				}
			}
			if subs[i] != nil {
				if err := subs[i].Close(ctx); err != nil {
					t.Errorf("close server %d: %v", i, err)
				}
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d servers started in %v", n, time.Since(begin).Round(time.Millisecond))

	// Each serves its own queue, and the group all.
	for _, i := range []int{0, n / 2, n - 1} {
		echoRoundTrip(t, cli, fmt.Sprintf("s%03d", i), "x")
	}
	c := newCollector()
	if err := cli.Send(testkit.Context(t, 10*time.Second), request("all", "echo", "fan"), c); err != nil {
		t.Fatal(err)
	}
	if got := c.Take(t, n, 20*time.Second); len(got) != n {
		t.Fatalf("%d replies to all, want %d", len(got), n)
	}
	work := request("all", "echo", "work")
	work.Balanced = true
	c = newCollector()
	if err := cli.Send(testkit.Context(t, 10*time.Second), work, c); err != nil {
		t.Fatal(err)
	}
	c.Take(t, 1, 10*time.Second)

	// Every watcher hears a query.
	if err := cli.Announce(testkit.Context(t, 10*time.Second), domain.Presence{Kind: domain.PresenceQuery}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every server to hear the query", func() bool { return queries.Load() == n })
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	// n server channels, the watchers' and the publishing one; the
	// statistics are refreshed every 5 s.
	api := e.Broker.Management(t)
	var got int
	waitFor(t, 30*time.Second, "the management API to count the channels", func() bool {
		got = connectionChannels(t, api, name)
		return got >= n
	})
	if got > n+4 {
		t.Errorf("%d channels for %d servers, want about one each", got, n)
	}
	t.Logf("%d channels on the connection", got)
}

// connectionChannels returns the channels the management API counts on the
// connection with the client-provided name, or -1.
func connectionChannels(tb testing.TB, api, name string) int {
	tb.Helper()
	base, err := url.Parse(api)
	if err != nil {
		tb.Fatalf("%s: %v", testkit.EnvManagementURL, err)
	}
	u := base.JoinPath("api", "connections")
	u.RawQuery = url.Values{"columns": {"channels,client_properties.connection_name"}}.Encode()
	var conns []struct {
		Channels         int `json:"channels"`
		ClientProperties struct {
			ConnectionName string `json:"connection_name"`
		} `json:"client_properties"`
	}
	if err := getJSON(&http.Client{Timeout: 5 * time.Second}, u, &conns); err != nil {
		tb.Logf("management API: %v", err)
		return -1
	}
	for _, c := range conns {
		if c.ClientProperties.ConnectionName == name {
			return c.Channels
		}
	}
	return -1
}

// A server whose work queue is deleted under it keeps serving its own queue
// on the channel they share (the broker cancels one consumer, not the
// channel), and declares the work queue again.
func TestServeResumesWhenAWorkQueueIsDeleted(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	group := "w" + e.ID()
	e.Track("work." + group)
	started, release := make(chan struct{}, 1), make(chan struct{})
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, WorkGroups: []string{group}, Concurrency: 2},
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			if req.Command.Args == "slow" {
				started <- struct{}{}
				<-release
			}
			echo("s1")(ctx, req, rw)
		})
	balanced := func(args string) *domain.Request {
		r := request(group, "echo", args)
		r.Balanced = true
		return r
	}
	c := newCollector()
	if err := cli.Send(testkit.Context(t, 5*time.Second), balanced("x"), c); err != nil {
		t.Fatal(err)
	}
	c.Take(t, 1, 5*time.Second)

	// A request of the server's own queue is in flight when the work queue
	// goes: it is answered, on the channel that delivered it.
	slow := newCollector()
	if err := cli.Send(testkit.Context(t, 5*time.Second), request("s1", "echo", "slow"), slow); err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := amqptest.Channel(t, e.Broker.URL).QueueDelete(e.Prefix+"work."+group, false, false, false); err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, cli, "s1", "meanwhile")
	close(release)
	if r := slow.Take(t, 1, 5*time.Second)[0]; r.Result != "s1:slow" {
		t.Errorf("reply to the request in flight = %+v", r)
	}
	waitFor(t, 10*time.Second, "the work queue to be declared again", func() bool {
		err := cli.Send(testkit.Context(t, 2*time.Second), balanced(""), newCollector())
		return err == nil
	})
	c = newCollector()
	if err := cli.Send(testkit.Context(t, 5*time.Second), balanced("after"), c); err != nil {
		t.Fatal(err)
	}
	if r := c.Take(t, 1, 5*time.Second)[0]; r.Result != "s1:after" {
		t.Errorf("balanced reply after = %+v", r)
	}
}

// A Serve with work groups whose handler hangs: Close gives up at its ctx,
// and the channel its consumers shared closes, so the request goes back to
// the queue for another server, and the work queue's consumer is gone too.
func TestCloseWithWorkGroupsGivesUpAtCtxAndRequeues(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	group := "w" + e.ID()
	e.Track("work." + group)
	release := make(chan struct{})
	defer close(release)
	b := block(t, e, srv, cli, ports.Endpoint{Name: "a", Queue: "shared", Bindings: []string{"shared"}, WorkGroups: []string{group}}, release)
	if err := b.sub.Close(testkit.Context(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	e.Serve(t, srv, ports.Endpoint{Name: "b", Queue: "shared", Bindings: []string{"shared"}, WorkGroups: []string{group}}, echo("b"))
	if r := b.replies.Take(t, 1, 5*time.Second)[0]; r.CallID != b.req.ID || r.Server != "b" || !r.OK() {
		t.Errorf("reply = %+v, want b to run the requeued request", r)
	}
	// Balanced work reaches b only: a's work consumer went with its channel.
	for range 4 {
		work := request(group, "echo", "w")
		work.Balanced = true
		c := newCollector()
		if err := cli.Send(testkit.Context(t, 5*time.Second), work, c); err != nil {
			t.Fatal(err)
		}
		if r := c.Take(t, 1, 5*time.Second)[0]; r.Server != "b" {
			t.Errorf("balanced reply from %q, want b", r.Server)
		}
	}
}
