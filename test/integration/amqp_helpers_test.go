package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

var namespaceSeq atomic.Int64

// namespace returns an exchange name unique to this test run and test, so
// tests sharing a broker never see each other's servers; its queues are
// deleted when the test ends.
func namespace(t *testing.T, b *brokertest.Broker) string {
	t.Helper()
	ns := fmt.Sprintf("it%d.%d", time.Now().UnixNano()%1e9, namespaceSeq.Add(1))
	t.Cleanup(func() { deleteNamespace(t, b, ns) })
	return ns
}

// amqpTransport connects a transport in its own namespace.
func amqpTransport(t *testing.T, b *brokertest.Broker, ns string, withManagement bool) *amqp.Transport {
	t.Helper()
	cfg := amqp.Config{URL: b.URL, Exchange: ns, QueuePrefix: ns + ".", Logger: slog.New(slog.DiscardHandler)}
	if withManagement {
		cfg.ManagementURL = b.ManagementURL
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tr, err := amqp.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// deleteNamespace deletes the exchange and every queue of a namespace.
func deleteNamespace(t *testing.T, b *brokertest.Broker, ns string) {
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Logf("clean up %s: %v", ns, err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	defer ch.Close()
	for _, q := range listQueues(b, ns+".") {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Logf("clean up queue %s: %v", q, err)
			return
		}
	}
	for _, x := range []string{ns, ns + ".work", ns + ".presence", ns + ".presence.query"} {
		_ = ch.ExchangeDelete(x, false, false)
	}
}

// listQueues names the queues whose name starts with prefix, from the
// management API (none without one).
func listQueues(b *brokertest.Broker, prefix string) []string {
	if b.ManagementURL == "" {
		return nil
	}
	resp, err := http.Get(strings.TrimRight(b.ManagementURL, "/") + "/api/queues?columns=name")
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
