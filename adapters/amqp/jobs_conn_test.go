package amqp_test

import (
	"crypto/rand"
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

// TestPrepareJobsReadiesTheStore: with Config.PrepareJobs, New readies the
// results store in the background, its stream declared before anything
// stores or reads a job; without it, nothing is declared until then (seen
// once the transport made alongside has readied its own).
func TestPrepareJobsReadiesTheStore(t *testing.T) {
	t.Parallel()
	with, without := newEnv(t), newEnv(t)
	without.Transport(t)
	with.Transport(t, func(c *amqp.Config) { c.PrepareJobs = true })
	exists := func(e *env) bool {
		err := amqptest.WithChannel(e.Broker.URL, func(ch func() (*amqp091.Channel, error)) error {
			c, err := ch()
			if err != nil {
				return err
			}
			_, err = c.QueueDeclarePassive(e.Prefix+"jobs.results", true, false, false, false, nil)
			return err
		})
		return err == nil
	}
	found := exists(with)
	for end := time.Now().Add(10 * time.Second); !found && time.Now().Before(end); found = exists(with) {
		time.Sleep(20 * time.Millisecond)
	}
	if !found {
		t.Fatal("PrepareJobs: the results stream was not declared")
	}
	if exists(without) {
		t.Error("without PrepareJobs: the results stream was declared before any job was stored or read")
	}
	// A broker that cannot be reached: New fails as it would without it,
	// having stopped readying the store.
	if tr, err := amqp.New(testkit.Context(t, 30*time.Second), amqp.Config{URL: "amqp://guest:guest@127.0.0.1:1/",
		DialTimeout: time.Second, PrepareJobs: true}); err == nil {
		_ = tr.Close()
		t.Error("New with PrepareJobs connected to a port nobody listens on")
	}
}
