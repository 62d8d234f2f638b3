package amqp_test

import (
	"crypto/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// lossCounter is an amqp.Observer counting the Transport's connection losses.
type lossCounter struct{ lost atomic.Int32 }

func (o *lossCounter) ConnectionLost(error) { o.lost.Add(1) }
func (o *lossCounter) Reconnected()         {}

// The results store has a connection of its own (named "<name> (results
// store)"): when the broker closes it — RabbitMQ 3.10.8 does, with 506 or
// 541, on a publish to a stream just declared — the server's own
// connection, its consumer and its calls in flight are untouched, and the
// next write redials the store.
func TestResultsStoreConnectionLostKeepsServing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.Broker.Management(t)
	name := "topicrpc-test-srv-" + strings.ToLower(rand.Text()[:8])
	var obs lossCounter
	srv := e.Transport(t, func(c *amqp.Config) { c.ConnectionName = name; c.Observer = &obs })
	cli := e.Transport(t)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, echo("s1"))
	ctx := testkit.Context(t, 30*time.Second)
	store := func(id string) {
		t.Helper()
		if err := srv.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordCall, CallID: id, Target: "s1"}); err != nil {
			t.Fatalf("store %s: %v", id, err)
		}
	}
	store("before")
	echoRoundTrip(t, cli, "s1", "before")

	closeConnections(t, api, name+" (results store)")

	echoRoundTrip(t, cli, "s1", "after")
	store("after")
	if ids := scanIDs(t, srv); strings.Join(ids, ",") != "before,after" {
		t.Errorf("the store holds %v, want before,after", ids)
	}
	if n := obs.lost.Load(); n != 0 {
		t.Errorf("the server's own connection was lost %d times; the store's loss must not touch it", n)
	}
	if err := srv.Ready(); err != nil {
		t.Errorf("server not ready after the store's connection was lost: %v", err)
	}
}
