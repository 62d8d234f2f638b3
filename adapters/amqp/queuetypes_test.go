package amqp_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/ports"
)

// logBuffer is a logger whose records (warn and up) the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// declareAs declares queue (in e's namespace) on the test broker with raw
// settings, as another version would have, and returns the broker's answer.
func declareAs(t *testing.T, e *env, queue string, durable bool, args amqp091.Table) error {
	t.Helper()
	return amqptest.WithChannel(e.Broker.URL, func(ch func() (*amqp091.Channel, error)) error {
		c, err := ch()
		if err != nil {
			return err
		}
		_, err = c.QueueDeclare(e.Prefix+queue, durable, false, false, false, args)
		return err
	})
}

// Replicated queue types: the server queue is transient, the work queue
// and the register quorum queues; a queue declared otherwise would be
// refused with 406.
func TestReplicatedQueueTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	group := "w" + e.ID()
	e.Track("work." + group)
	repl := func(c *amqp.Config) { c.QueueTypes = amqp.QueuesReplicated }
	srv, cli := e.Transport(t, repl), e.Transport(t, repl)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, WorkGroups: []string{group}}, echo("s1"))
	echoRoundTrip(t, cli, "s1", "x")
	if err := declareAs(t, e, "s1", false, nil); err != nil {
		t.Errorf("server queue: declaring it transient classic: %v, want it to be so", err)
	}
	if err := declareAs(t, e, "work."+group, true, amqp091.Table{"x-queue-type": "quorum"}); err != nil {
		t.Errorf("work queue: declaring it quorum: %v, want it to be so", err)
	}
	if err := declareAs(t, e, "work."+group, true, nil); err == nil || !strings.Contains(err.Error(), "406") {
		t.Errorf("work queue: declaring it classic: %v, want 406", err)
	}
}

// A server finding its queues declared by an earlier version with other
// settings (406) serves them as they are and says what to do, in one line,
// once per queue.
func TestServesAQueueDeclaredWithOtherSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	group := "w" + e.ID()
	e.Track("work." + group)
	// What QueuesClassic declares; then a server with replicated types.
	if err := declareAs(t, e, "s1", true, nil); err != nil {
		t.Fatal(err)
	}
	if err := declareAs(t, e, "work."+group, true, nil); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := e.Transport(t, func(c *amqp.Config) { c.QueueTypes, c.Logger = amqp.QueuesReplicated, log })
	cli := e.Transport(t)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, WorkGroups: []string{group}}, echo("s1"))
	echoRoundTrip(t, cli, "s1", "x")
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, echo("s1")) // again: said once
	out := logs.String()
	t.Log(out)
	for _, q := range []string{e.Prefix + "s1", e.Prefix + "work." + group} {
		if n := strings.Count(out, "rabbitmqctl delete_queue "+q+")"); n != 1 {
			t.Errorf("%d warnings telling to delete %s, want 1", n, q)
		}
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("errors logged: the server should serve the queue as it is")
	}
}
