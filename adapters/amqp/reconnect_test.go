package amqp_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// A connection the broker closes (an operator, a node going down) comes back
// by itself: the server serves again, the client calls again, and a watcher
// sees presence again.
func TestReconnectAfterBrokerClosesConnections(t *testing.T) {
	t.Parallel()
	e := presenceEnv(t)
	api := e.Broker.Management(t) // closes the connections
	id := strings.ToLower(rand.Text()[:8])
	srvName, cliName := "topicrpc-test-srv-"+id, "topicrpc-test-cli-"+id
	srv := e.Transport(t, func(c *amqp.Config) { c.ConnectionName = srvName })
	cli := e.Transport(t, func(c *amqp.Config) { c.ConnectionName = cliName })
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, echo("s1"))
	seen := newPresences(64)
	watchPresence(t, cli, seen.Put)
	echoRoundTrip(t, cli, "s1", "before")

	closeConnections(t, api, srvName, cliName)

	// A Send with time to spare completes once both sides are back. One
	// that races the close (the client has not read the broker's
	// connection.close yet) fails as in flight, with the sentinel.
	c := newCollector()
	begin := time.Now()
	for {
		err := cli.Send(testkit.Context(t, 15*time.Second), request("s1", "echo", "after"), c)
		if err == nil {
			break
		}
		if !errors.Is(err, ports.ErrUnavailable) || time.Since(begin) > 15*time.Second {
			t.Fatalf("Send after the broker closed the connections: %v", err)
		}
		t.Logf("raced the close: %v", err)
	}
	if r := c.Take(t, 1, 15*time.Second)[0]; r.Result != "s1:after" {
		t.Errorf("reply after recovery = %+v", r)
	}
	t.Logf("answered %v after the connections were closed", time.Since(begin).Round(time.Millisecond))

	// The watcher has a queue again: it sees what the server announces.
	announceUntilSeen(t, srv, seen, "s1")
}

// A dropped network (a proxy that cuts every connection and refuses new
// ones, then lets them through again): during the outage a Send with a short
// ctx fails promptly with the sentinel, one with a long ctx completes after
// recovery, and the server serves again.
func TestReconnectAfterNetworkOutage(t *testing.T) {
	t.Parallel()
	e := presenceEnv(t)
	p := newProxy(t, e.Broker.URL)
	srv, cli := e.Transport(t, p.via), e.Transport(t, p.via)
	group := "w" + e.ID()
	e.Track("work." + group)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, WorkGroups: []string{group}}, echo("s1"))
	seen := newPresences(64)
	watchPresence(t, cli, seen.Put)
	echoRoundTrip(t, cli, "s1", "before")

	p.down()
	waitFor(t, 5*time.Second, "the client to notice the outage", func() bool {
		err := cli.Send(testkit.Context(t, 50*time.Millisecond), request("s1", "echo", ""), newCollector())
		return errors.Is(err, ports.ErrUnavailable)
	})

	// Short ctx: fails at its end, with the sentinel.
	begin := time.Now()
	err := cli.Send(testkit.Context(t, 200*time.Millisecond), request("s1", "echo", "short"), newCollector())
	took := time.Since(begin)
	switch {
	case !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, amqp.ErrConnectionLost):
		t.Errorf("Send during the outage = %v, want ports.ErrUnavailable and amqp.ErrConnectionLost", err)
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("Send during the outage = %v, want it to name the deadline", err)
	case took > time.Second:
		t.Errorf("Send during the outage took %v with a 200ms ctx", took)
	}
	t.Logf("during the outage, after %v: %v", took.Round(time.Millisecond), err)

	// Long ctx: waits for the network and completes.
	c := newCollector()
	sent := inBackground(func() error { return cli.Send(testkit.Context(t, 20*time.Second), request("s1", "echo", "long"), c) })
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-sent:
		t.Fatalf("Send returned %v while the network was down", err)
	default:
	}
	p.up()
	upAt := time.Now()
	if err := testkit.Within(t, sent, 20*time.Second, "Send waiting across the outage"); err != nil {
		t.Fatalf("Send waiting across the outage: %v", err)
	}
	if r := c.Take(t, 1, 15*time.Second)[0]; r.Result != "s1:long" {
		t.Errorf("reply after recovery = %+v", r)
	}
	t.Logf("answered %v after the network came back", time.Since(upAt).Round(time.Millisecond))

	// Balanced work resumes too: the work queue has its consumer again.
	c = newCollector()
	req := request(group, "echo", "work")
	req.Balanced = true
	if err := cli.Send(testkit.Context(t, 10*time.Second), req, c); err != nil {
		t.Fatalf("balanced Send after recovery: %v", err)
	}
	c.Take(t, 1, 10*time.Second)
	announceUntilSeen(t, srv, seen, "s1")
}

// A server whose queue is deleted under it (the broker cancels its
// consumer) declares the queue again and goes on serving.
func TestServeResumesWhenItsQueueIsDeleted(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, echo("s1"))
	echoRoundTrip(t, cli, "s1", "before")
	if _, err := amqptest.Channel(t, e.Broker.URL).QueueDelete(e.Prefix+"s1", false, false, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the queue to be declared and bound again", func() bool {
		err := cli.Send(testkit.Context(t, 2*time.Second), request("s1", "echo", ""), newCollector())
		return err == nil
	})
	echoRoundTrip(t, cli, "s1", "after")
}

// Close stops the supervisor in the middle of its backoff, Sends waiting for
// the connection fail with ErrClosed, and nothing of the transport's is left
// running afterwards. Not parallel: it counts goroutines.
func TestCloseStopsReconnectingAndLeavesNoGoroutines(t *testing.T) {
	e := presenceEnv(t)
	p := newProxy(t, e.Broker.URL)
	cfg := e.Config()
	p.via(&cfg)
	cfg.DialTimeout = time.Second
	srv, cli := openTransport(t, cfg), openTransport(t, cfg)
	e.Track("s1")
	sub, err := srv.Serve(testkit.Context(t, 5*time.Second), ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, Concurrency: 4}, echo("s1"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := cli.WatchPresence(testkit.Context(t, 5*time.Second), ports.WatchAnnouncements, func(domain.Presence) {})
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, cli, "s1", "x")

	// One outage and recovery, so that second generations exist too.
	p.down()
	time.Sleep(300 * time.Millisecond)
	p.up()
	echoRoundTrip(t, cli, "s1", "y")

	// Down again, for good: Close while reconnecting.
	p.down()
	waitFor(t, 5*time.Second, "the client to notice the outage", func() bool {
		err := cli.Send(testkit.Context(t, 50*time.Millisecond), request("s1", "echo", ""), newCollector())
		return errors.Is(err, ports.ErrUnavailable)
	})
	waiting := inBackground(func() error { return cli.Send(context.Background(), request("s1", "echo", ""), newCollector()) })
	time.Sleep(1500 * time.Millisecond) // a few attempts: the backoff is past its first steps
	begin := time.Now()
	if err := sub.Close(testkit.Context(t, 2*time.Second)); err != nil {
		t.Errorf("close subscription while reconnecting: %v", err)
	}
	if err := w.Close(testkit.Context(t, 2*time.Second)); err != nil {
		t.Errorf("close watcher while reconnecting: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close server transport: %v", err)
	}
	if err := cli.Close(); err != nil {
		t.Errorf("close client transport: %v", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("closing while reconnecting took %v", d)
	}
	if err := testkit.Within(t, waiting, time.Second, "Send waiting for the connection, after Close,"); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Send waiting for the connection = %v, want ErrClosed", err)
	}
	if err := cli.Send(context.Background(), request("s1", "echo", ""), newCollector()); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for leftovers() != "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := leftovers(); s != "" {
		t.Errorf("goroutines left 5s after Close:\n%s", s)
	}
}

// leftovers returns the stacks of goroutines running code of the adapter or
// of amqp091-go, other than tests'.
func leftovers() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") { // a test, possibly one of the package's internal tests
			continue
		}
		if strings.Contains(g, "topicrpc/adapters/amqp.") || strings.Contains(g, "rabbitmq/amqp091-go") {
			left = append(left, g)
		}
	}
	return strings.Join(left, "\n\n")
}

// echoRoundTrip sends one echo to target and waits for its answer.
func echoRoundTrip(tb testing.TB, tr *amqp.Transport, target, args string) {
	tb.Helper()
	c := newCollector()
	if err := tr.Send(testkit.Context(tb, 10*time.Second), request(target, "echo", args), c); err != nil {
		tb.Fatalf("Send to %s: %v", target, err)
	}
	if r := c.Take(tb, 1, 10*time.Second)[0]; !r.OK() {
		tb.Fatalf("reply from %s = %+v", target, r)
	}
}

// announceUntilSeen announces server's hello until the watcher logging to
// seen gets one: a watcher resumes a moment after its transport reconnects.
func announceUntilSeen(tb testing.TB, tr *amqp.Transport, seen *testkit.Inbox[domain.Presence], server string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := tr.Announce(testkit.Context(tb, 5*time.Second), hello(server, 1)); err != nil {
			tb.Fatalf("Announce: %v", err)
		}
		timeout := time.After(200 * time.Millisecond)
		for {
			select {
			case m := <-seen.C():
				if m.Server == server {
					return
				}
				continue
			case <-timeout:
			}
			break
		}
	}
	tb.Fatalf("the watcher saw no presence from %s for 10s after recovery", server)
}

func waitFor(tb testing.TB, d time.Duration, what string, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closeConnections closes, through the management API, every connection
// whose client-provided name is one of names, once each has shown up there.
func closeConnections(tb testing.TB, api string, names ...string) {
	tb.Helper()
	base, err := url.Parse(api)
	if err != nil {
		tb.Fatalf("%s: %v", testkit.EnvManagementURL, err)
	}
	want := make(map[string]bool)
	for _, n := range names {
		want[n] = true
	}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for len(want) > 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("connections %v never showed up in the management API", want)
		}
		var conns []struct {
			Name             string `json:"name"`
			ClientProperties struct {
				ConnectionName string `json:"connection_name"`
			} `json:"client_properties"`
		}
		if err := getJSON(client, base.JoinPath("api", "connections"), &conns); err != nil {
			tb.Fatal(err)
		}
		for _, c := range conns {
			if !want[c.ClientProperties.ConnectionName] {
				continue
			}
			// Names hold spaces and '>': escape them.
			u := strings.TrimSuffix(api, "/") + "/api/connections/" + url.PathEscape(c.Name)
			req, err := http.NewRequest(http.MethodDelete, u, nil)
			if err != nil {
				tb.Fatal(err)
			}
			req.Header.Set("X-Reason", "topicrpc reconnection test")
			resp, err := client.Do(req)
			if err != nil {
				tb.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				tb.Fatalf("DELETE %s: %s", c.Name, resp.Status)
			}
			tb.Logf("closed connection %q (%s)", c.Name, c.ClientProperties.ConnectionName)
			delete(want, c.ClientProperties.ConnectionName)
		}
		if len(want) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func getJSON(client *http.Client, u *url.URL, v any) error {
	resp, err := client.Get(u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
