package amqp_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// presenceEnv is a namespace whose presence exchanges are deleted at the
// end of the test, after checking that no queue is bound to them any more:
// every watcher's queue went away with its watcher or its connection. The
// presence exchange goes first, and with it the binding that hands it the
// queries.
func presenceEnv(tb testing.TB) *env {
	tb.Helper()
	e := newEnv(tb)
	tb.Cleanup(func() {
		err := amqptest.WithChannel(e.Broker.URL, func(ch func() (*amqp091.Channel, error)) error {
			for _, name := range []string{e.Exchange + ".presence", e.Exchange + ".presence.query"} {
				c, err := ch()
				if err != nil {
					return err
				}
				if err := c.ExchangeDelete(name, true, false); err != nil {
					tb.Errorf("delete exchange %s if unused: %v; a watcher's queue outlived it", name, err)
				}
			}
			return nil
		})
		if err != nil {
			tb.Logf("cleanup: %v", err)
		}
	})
	return e
}

// presenceTransport returns a presenceEnv and a transport in it.
func presenceTransport(t *testing.T) (*env, *amqp.Transport) {
	t.Helper()
	e := presenceEnv(t)
	return e, e.Transport(t)
}

// newPresences returns a watcher's log of up to n messages; its Put is the
// watcher's function.
func newPresences(n int) *testkit.Inbox[domain.Presence] {
	return testkit.NewInbox[domain.Presence](n, "presence messages")
}

// watchPresence watches announcements, as a roster does.
func watchPresence(tb testing.TB, tr *amqp.Transport, fn func(domain.Presence)) ports.Subscription {
	tb.Helper()
	return watchFor(tb, tr, ports.WatchAnnouncements, fn)
}

func watchFor(tb testing.TB, tr *amqp.Transport, want ports.PresenceInterest, fn func(domain.Presence)) ports.Subscription {
	tb.Helper()
	sub, err := tr.WatchPresence(testkit.Context(tb, 5*time.Second), want, fn)
	if err != nil {
		tb.Fatalf("WatchPresence: %v", err)
	}
	tb.Cleanup(func() {
		if err := sub.Close(testkit.Context(tb, 5*time.Second)); err != nil {
			tb.Errorf("close watcher: %v", err)
		}
	})
	return sub
}

// announce announces p on tr, failing the test if it cannot.
func announce(t *testing.T, tr *amqp.Transport, p domain.Presence) {
	t.Helper()
	if err := tr.Announce(testkit.Context(t, 5*time.Second), p); err != nil {
		t.Fatalf("announce %s: %v", p.Kind, err)
	}
}

func hello(server string, pid int) domain.Presence {
	return domain.Presence{Kind: domain.PresenceHello, Server: server, PID: pid, Sent: time.Now()}
}

// Presence goes from process to process: a watcher sees what another
// connection announces, and its own announcements too. A server's watcher
// (of queries) hears the query and not the hello; a roster's hears both:
// the query exchange hands queries on to the presence exchange.
func TestPresenceAcrossTransports(t *testing.T) {
	t.Parallel()
	e := presenceEnv(t)
	watcher, server := e.Transport(t), e.Transport(t)
	log, queries := newPresences(16), newPresences(16)
	watchPresence(t, watcher, log.Put)
	watchFor(t, server, ports.WatchQueries, queries.Put)
	announce(t, server, hello("s1", 1))
	announce(t, watcher, domain.Presence{Kind: domain.PresenceQuery})
	got := log.Take(t, 2, 5*time.Second)
	if got[0].Kind != domain.PresenceHello || got[0].Server != "s1" || got[1].Kind != domain.PresenceQuery {
		t.Fatalf("got %+v", got)
	}
	if got := queries.Take(t, 1, 5*time.Second); got[0].Kind != domain.PresenceQuery {
		t.Fatalf("the server's watcher got %+v, want the query", got[0])
	}
	queries.None(t, 100*time.Millisecond)
}

// A server of an earlier version watches the presence exchange only, for
// queries too: the binding from the query exchange still brings it those of
// clients of this version.
func TestQueriesReachWatchersOfThePresenceExchange(t *testing.T) {
	t.Parallel()
	e, tr := presenceTransport(t)
	announce(t, tr, hello("s1", 1)) // declares the exchanges
	ch := amqptest.Channel(t, e.Broker.URL)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "", e.Exchange+".presence", false, nil); err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	announce(t, tr, domain.Presence{Kind: domain.PresenceQuery})
	select {
	case m := <-d:
		if m.Type != "query" {
			t.Errorf("got a %q, want the query", m.Type)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the query did not reach the presence exchange")
	}
	if _, err := ch.QueueDelete(q.Name, false, false, false); err != nil {
		t.Fatal(err)
	}
}

// Garbage on the presence exchange is skipped; the watcher carries on.
func TestPresenceMalformedMessagesAreSkipped(t *testing.T) {
	t.Parallel()
	e, tr := presenceTransport(t)
	log := newPresences(16)
	watchPresence(t, tr, log.Put)
	raw := amqptest.Channel(t, e.Broker.URL)
	for _, body := range []string{"", "not json", `{"kind":"farewell"}`, `{"kind":"hello","pid":"x"}`, "\xff\xfe"} {
		if err := raw.PublishWithContext(testkit.Context(t, 5*time.Second), e.Exchange+".presence", "", false, false,
			amqp091.Publishing{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	announce(t, tr, hello("good", 1))
	if got := log.Take(t, 1, 5*time.Second); got[0].Server != "good" {
		t.Fatalf("got %+v, want the good hello only", got[0])
	}
	log.None(t, 100*time.Millisecond)
}

// A watcher that falls behind holds PresencePrefetch messages in memory and
// PresenceQueueLength in its queue; the broker drops the oldest of those, so
// the newest survive, in order. The announcer never waits for the watcher.
func TestPresenceSlowWatcherLosesItsOldestMessages(t *testing.T) {
	t.Parallel()
	_, tr := presenceTransport(t)
	const n = amqp.PresencePrefetch + amqp.PresenceQueueLength + 40
	entered, release := make(chan struct{}), make(chan struct{})
	log := newPresences(n)
	watchPresence(t, tr, func(p domain.Presence) {
		if p.PID == 0 {
			close(entered)
			<-release
		}
		log.Put(p)
	})
	ctx := testkit.Context(t, 10*time.Second)
	if err := tr.Announce(ctx, hello("s", 0)); err != nil {
		t.Fatal(err)
	}
	<-entered
	for pid := 1; pid < n; pid++ {
		if err := tr.Announce(ctx, hello("s", pid)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	var want []int
	for pid := range amqp.PresencePrefetch { // delivered before the watcher got stuck
		want = append(want, pid)
	}
	for pid := n - amqp.PresenceQueueLength; pid < n; pid++ { // the newest, kept in the queue
		want = append(want, pid)
	}
	got := log.Take(t, len(want), 5*time.Second)
	for i, p := range got {
		if p.PID != want[i] {
			t.Fatalf("message %d is pid %d, want %d", i, p.PID, want[i])
		}
	}
	log.None(t, 100*time.Millisecond)
}

// Transport.Close ends its watchers and waits for a call to fn in progress;
// fn is not called afterwards.
func TestCloseEndsPresenceWatchers(t *testing.T) {
	t.Parallel()
	e := presenceEnv(t)
	other := e.Transport(t)
	tr := openTransport(t, e.Config())
	entered := make(chan struct{})
	var calls, finished atomic.Int64
	if _, err := tr.WatchPresence(testkit.Context(t, 5*time.Second), ports.WatchAnnouncements, func(domain.Presence) {
		if calls.Add(1) == 1 {
			close(entered)
			time.Sleep(100 * time.Millisecond)
		}
		finished.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	for pid := range 3 {
		announce(t, other, hello("s", pid))
	}
	<-entered
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != finished.Load() {
		t.Fatal("Close returned while fn was running")
	}
	n := calls.Load()
	announce(t, other, hello("s", 9))
	time.Sleep(50 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("fn called after Close")
	}
	if err := tr.Announce(testkit.Context(t, time.Second), hello("s", 1)); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Announce after Close = %v, want ErrClosed", err)
	}
}

// An exchange name too long to name a presence exchange after fails presence
// with a clear error, and leaves requests working.
func TestPresenceExchangeNameTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := e.Exchange + "-" + strings.Repeat("x", 250-len(e.Exchange))
	t.Cleanup(func() {
		_ = amqptest.WithChannel(e.Broker.URL, func(ch func() (*amqp091.Channel, error)) error {
			c, err := ch()
			if err == nil {
				err = c.ExchangeDelete(long, false, false)
			}
			return err
		})
	})
	tr := e.Transport(t, func(c *amqp.Config) { c.Exchange = long })
	if err := tr.Announce(testkit.Context(t, 5*time.Second), hello("s", 1)); err == nil || !strings.Contains(err.Error(), "shorten the exchange name") {
		t.Errorf("Announce = %v, want the name is too long", err)
	}
	for _, want := range []ports.PresenceInterest{ports.WatchAnnouncements, ports.WatchQueries} {
		if _, err := tr.WatchPresence(testkit.Context(t, 5*time.Second), want, func(domain.Presence) {}); err == nil {
			t.Errorf("WatchPresence(%s) succeeded", want)
		}
	}
	if err := tr.Send(testkit.Context(t, 5*time.Second), request("nobody", "echo", ""), newCollector()); !errors.Is(err, ports.ErrNoRoute) {
		t.Errorf("Send after a failed Announce = %v, want ErrNoRoute: the publishing channel must still work", err)
	}
}
