package amqptest

import (
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Namespace is one test's corner of a broker: an exchange name of its own
// and the queue prefix that goes with it, so that tests sharing a broker
// never see each other's servers. When the test ends, the queues it
// tracked, those whose names start with Prefix (when the broker's management
// API can list them), and the namespace's exchanges (Exchange and the
// .work, .presence and .presence.query exchanges named after it) are
// deleted. Create it before the transports that use it: cleanups run last
// in first, so it is deleted after they are closed.
type Namespace struct {
	// Broker is where the namespace lives.
	Broker testkit.Broker
	// Exchange is the topic exchange: label, a dash and a random id.
	Exchange string
	// Prefix is the queue prefix: Exchange and a dot.
	Prefix string
	// Logger is the logger of the transports Config describes; New sets it
	// to testkit.Logger(tb).
	Logger *slog.Logger

	mu     sync.Mutex
	queues map[string]bool // full names, to delete
}

// New returns a namespace on b whose exchange is named label-<random id>.
func New(tb testing.TB, b testkit.Broker, label string) *Namespace {
	tb.Helper()
	exchange := label + "-" + strings.ToLower(rand.Text()[:12])
	ns := &Namespace{
		Broker:   b,
		Exchange: exchange,
		Prefix:   exchange + ".",
		Logger:   testkit.Logger(tb),
		queues:   make(map[string]bool),
	}
	tb.Cleanup(func() { ns.delete(tb) })
	return ns
}

// ID returns the random part of the exchange name: a word unique to the
// namespace, for naming groups and connections.
func (ns *Namespace) ID() string { return ns.Exchange[strings.LastIndexByte(ns.Exchange, '-')+1:] }

// Track marks the queue named name (without Prefix) for deletion.
func (ns *Namespace) Track(name string) {
	ns.mu.Lock()
	ns.queues[ns.Prefix+name] = true
	ns.mu.Unlock()
}

// delete deletes the namespace's queues and exchanges, logging what fails.
func (ns *Namespace) delete(tb testing.TB) {
	ns.mu.Lock()
	set := maps.Clone(ns.queues)
	ns.mu.Unlock()
	for _, q := range listQueues(ns.Broker.ManagementURL, ns.Prefix) {
		set[q] = true
	}
	queues := slices.Sorted(maps.Keys(set))
	x := ns.Exchange
	err := WithChannel(ns.Broker.URL, func(ch func() (*amqp091.Channel, error)) error {
		for _, q := range queues {
			c, err := ch()
			if err != nil {
				return err
			}
			if _, err := c.QueueDelete(q, false, false, false); err != nil {
				tb.Logf("clean up: delete queue %s: %v", q, err)
			}
		}
		for _, name := range []string{x, x + ".work", x + ".presence", x + ".presence.query", x + ".jobs"} {
			c, err := ch()
			if err != nil {
				return err
			}
			_ = c.ExchangeDelete(name, false, false) // may never have been declared
		}
		return nil
	})
	if err != nil {
		tb.Logf("clean up %s: %v", x, err)
	}
}

// listQueues names the queues whose names start with prefix, as the
// management API at api lists them; none without one.
func listQueues(api, prefix string) []string {
	if api == "" {
		return nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(strings.TrimRight(api, "/") + "/api/queues?columns=name")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var qs []struct {
		Name string `json:"name"`
	}
	if json.NewDecoder(resp.Body).Decode(&qs) != nil {
		return nil
	}
	var names []string
	for _, q := range qs {
		if strings.HasPrefix(q.Name, prefix) {
			names = append(names, q.Name)
		}
	}
	return names
}
