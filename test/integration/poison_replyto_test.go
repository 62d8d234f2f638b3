package integration_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// unknownNodeReplyTo returns a well-formed direct reply-to address whose pid
// names node "reply@<hash>", a node no broker has (real hashes have at most
// 9 digits): RabbitMQ 3.10 closes the connection that publishes to it.
func unknownNodeReplyTo(i int) string {
	node := fmt.Sprintf("reply@%d", 90000000000+i)
	b := []byte{131, 88, 118}
	b = binary.BigEndian.AppendUint16(b, uint16(len(node)))
	b = append(b, node...)
	b = append(b, 0, 0, 3, 25, 0, 0, 0, 0, 107, 12, 148, 149) // id, serial, creation
	return "amq.rabbitmq.reply-to." + base64.StdEncoding.EncodeToString(b) + ".ZYpOK5bqL5WRV8GUiFc1LQ=="
}

// runCounter counts a server's handler runs per argument.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *runCounter) handler(server string) app.HandlerFunc {
	return func(_ context.Context, args string) (string, error) {
		c.mu.Lock()
		c.runs[server+"/"+args]++
		c.mu.Unlock()
		return server + ":" + args, nil
	}
}

func (c *runCounter) count(server, args string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[server+"/"+args]
}

// A stream of poison (a well-formed reply-to naming a node the broker does
// not know) sent to all, unsigned, while signed calls to all run: both keyed
// servers answer every call throughout (their unauthorized reply to the
// poison goes over the probe connection, never the one that consumes), each
// legitimate request queued beside the poison runs exactly once per server,
// nothing stays on the queues, and each poisonous node is logged once.
func TestAttackPoisonReplyToStream(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	space := namespace(t, b)
	var logs testkit.LockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%.20000s", logs.String())
		}
	})
	key := []byte("fleet key of the poison test, 32b")
	runs := &runCounter{runs: map[string]int{}}
	servers := []string{"s1", "s2"}
	for _, name := range servers {
		tr := space.Transport(t, func(c *amqp.Config) { c.Logger = log })
		srv := app.NewServer(tr, app.ServerConfig{Name: name, Concurrency: 4, AuthKey: key, NoWorkGroups: true}, log)
		if err := srv.Handle("count", runs.handler(name)); err != nil {
			t.Fatal(err)
		}
		testkit.Start(t, srv, 5*time.Second)
	}
	cli := app.NewClient(space.Transport(t), app.ClientConfig{Timeout: 15 * time.Second, IdleGap: time.Second, AuthKey: key}, nil)
	call := func(args string) error {
		sum, outs, err := cli.Do(t.Context(), "all", domain.Command{Name: "count", Args: args})
		if err != nil {
			return err
		}
		if sum.OK != len(servers) || sum.Failed != 0 {
			return fmt.Errorf("call %s: %d ok, %d failed of %d servers: %+v", args, sum.OK, sum.Failed, len(servers), outs)
		}
		return nil
	}
	// The fleet answers (and its servers prove the broker's node).
	if err := call("before"); err != nil {
		t.Fatal(err)
	}

	// The attack: poison to all, 10 distinct unknown nodes, each sent 8
	// times, a few milliseconds apart, without TTL.
	ch := amqptest.Channel(t, b.URL)
	const nodes, repeats = 10, 8
	var sent atomic.Int64
	attackDone := make(chan struct{})
	go func() {
		defer close(attackDone)
		for r := range repeats {
			for n := range nodes {
				msg := amqp091.Publishing{CorrelationId: fmt.Sprintf("poison-%d-%d", n, r), ReplyTo: unknownNodeReplyTo(n),
					Type: "count", Body: []byte("poison"), Headers: amqp091.Table{"topicrpc-deadline": time.Now().Add(time.Minute).UnixMilli()}}
				if err := ch.PublishWithContext(context.Background(), space.Exchange, "all", false, false, msg); err != nil {
					t.Errorf("publish poison: %v", err)
					return
				}
				sent.Add(1)
				time.Sleep(3 * time.Millisecond)
			}
		}
	}()
	// Meanwhile, legitimate calls, each queued beside poison.
	const calls = 20
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { errs <- call(fmt.Sprintf("legit-%d", i)) })
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	<-attackDone
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Error(err)
		}
	}
	if err := call("after"); err != nil {
		t.Error(err)
	}

	for _, s := range servers {
		for i := range calls {
			if n := runs.count(s, fmt.Sprintf("legit-%d", i)); n != 1 {
				t.Errorf("%s ran legit-%d %d times, want 1", s, i, n)
			}
		}
		if n := runs.count(s, "poison"); n != 0 {
			t.Errorf("%s ran the unsigned poison %d times", s, n)
		}
	}
	for _, s := range servers {
		queue := space.Exchange + "." + s
		if q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
			t.Fatalf("queue %s: %v", queue, err)
		} else if q.Messages != 0 {
			t.Errorf("queue %s holds %d messages: poison must be settled, not requeued", queue, q.Messages)
		}
	}
	out := logs.String()
	probed := strings.Count(out, "refused a poisonous reply-to")
	lost := strings.Count(out, "connection lost") + strings.Count(out, "serving again")
	if lost != 0 {
		t.Errorf("a server's connection broke %d times", lost)
	}
	// Each server learns each node once (a node whose probe is backing off
	// is refused without a probe, so it may be learned later or never).
	if probed == 0 || probed > len(servers)*nodes {
		t.Errorf("%d poisonous reply-tos logged, want 1 to %d", probed, len(servers)*nodes)
	}
	t.Logf("%d poison messages to all (%d distinct unknown nodes), %d legitimate calls to %d servers: %d failed, %d poisonous nodes logged",
		sent.Load(), nodes, calls+2, len(servers), failed, probed)
}
