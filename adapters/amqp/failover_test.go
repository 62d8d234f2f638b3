package amqp_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// Two ways to one broker stand for two nodes of a cluster: when the one in
// use goes down, the transports fail over to the other and serve again.
func TestFailsOverToTheNextBroker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, p2 := newProxy(t, e.Broker.URL), newProxy(t, e.Broker.URL)
	both := func(c *amqp.Config) { c.URL, c.URLs, c.OrderedURLs = p1.url+","+p2.url, nil, true }
	srv, cli := e.Transport(t, both), e.Transport(t, both)
	for _, tr := range []*amqp.Transport{srv, cli} {
		if got := tr.Node(); got != amqp.RedactURL(p1.url) {
			t.Fatalf("Node() = %s, want the first broker %s (OrderedURLs)", got, amqp.RedactURL(p1.url))
		}
	}
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, echo("s1"))
	echoRoundTrip(t, cli, "s1", "before")

	p1.down()
	waitFor(t, 10*time.Second, "both transports on the second broker", func() bool {
		return srv.Node() == amqp.RedactURL(p2.url) && cli.Node() == amqp.RedactURL(p2.url)
	})
	echoRoundTrip(t, cli, "s1", "after")
}

// Shuffled (the default), a list of brokers spreads transports over them,
// and a dead broker in the list is passed over.
func TestConnectsToABrokerThatAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dead := "amqp://guest:guest@" + testkit.ClosedAddr(t) + "/"
	p := newProxy(t, e.Broker.URL)
	seen := map[string]int{}
	for range 6 {
		tr := e.Transport(t, func(c *amqp.Config) { c.URL, c.URLs = dead, []string{e.Broker.URL, p.url} })
		seen[tr.Node()]++
	}
	if seen[amqp.RedactURL(dead)] > 0 {
		t.Errorf("connected to the dead broker: %v", seen)
	}
	if len(seen) != 2 {
		t.Logf("6 transports over 2 live brokers: %v (shuffled: both used, but for 1 in 32 runs)", seen)
	}
}

// When no broker answers, the error names each one with its reason, in one
// line, and errors.Is still finds the reasons.
func TestNoBrokerAnswersNamesEach(t *testing.T) {
	t.Parallel()
	a, b := testkit.ClosedAddr(t), testkit.ClosedAddr(t)
	tr, err := amqp.New(testkit.Context(t, 10*time.Second), amqp.Config{
		URLs: []string{"amqp://guest:s3cret@" + a + "/", "amqp://guest:s3cret@" + b + "/"}, DialTimeout: time.Second})
	if err == nil {
		tr.Close()
		t.Fatal("New succeeded with no broker up")
	}
	msg := err.Error()
	t.Log(msg)
	switch {
	case !strings.Contains(msg, "none of the 2 brokers answered"), !strings.Contains(msg, a), !strings.Contains(msg, b):
		t.Errorf("error %q does not name both brokers", msg)
	case strings.Contains(msg, "s3cret"):
		t.Errorf("error shows the password: %q", msg)
	case strings.Contains(msg, "\n"):
		t.Errorf("error spans lines: %q", msg)
	case !errors.Is(err, syscall.ECONNREFUSED):
		t.Errorf("errors.Is(err, ECONNREFUSED) = false for %v", err)
	}
}
