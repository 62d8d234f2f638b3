package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
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
)

// callTimeout bounds every call of every side: a lost reply fails the
// benchmark instead of hanging it.
const callTimeout = 30 * time.Second

// needBroker returns the broker the environment names, or ends the
// benchmark through testkit.NoBroker (make bench starts a private one).
func needBroker(b *testing.B) testkit.Broker {
	b.Helper()
	return testkit.EnvBroker(b)
}

// namespace returns a namespace of the benchmark's own on br, its exchange
// named bench-<what>-<id>, deleted at the end, so that benchmarks sharing a
// broker never see each other's queues. Its transports log nothing and name
// their connections after it.
func namespace(b *testing.B, br testkit.Broker, what string) *amqptest.Namespace {
	b.Helper()
	ns := amqptest.New(b, br, "bench-"+what)
	ns.Logger = quiet
	return ns
}

// named names a transport's connection after its namespace, as the
// management API shows it.
func named(ns *amqptest.Namespace) func(*amqp.Config) {
	return func(c *amqp.Config) { c.ConnectionName = ns.Exchange }
}

func dialRaw(b *testing.B, url string) *amqp091.Connection {
	b.Helper()
	conn, err := amqp091.DialConfig(url, amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		b.Fatalf("dial broker: %v", err)
	}
	return conn
}

// --- the baseline: amqp091-go by hand ----------------------------------------

// rawServers are hand-written RPC servers on one connection, the tutorial's
// way: each consumes its own queue (exclusive, auto-delete) on a channel of
// its own with manual acks, publishes the reply to the request's reply-to
// through the default exchange, then acks.
type rawServers struct{ conn *amqp091.Connection }

// serve starts one server on queue, bound to exchange with bindings (none
// for the default exchange), with prefetch and as many worker goroutines.
// With wire, it speaks topicrpc's protocol (see rawClient.wire): one result
// labelled with its kind and the server's name, the handler being faster than
// app.DefaultAckDelay, so that the result is its own acknowledgement.
func (s *rawServers) serve(b *testing.B, queue, exchange string, bindings []string, prefetch int, wire bool) {
	b.Helper()
	ch, err := s.conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, true, true, false, nil); err != nil {
		b.Fatal(err)
	}
	for _, k := range bindings {
		if err := ch.QueueBind(queue, k, exchange, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, true, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range prefetch {
		go func() {
			for d := range deliveries {
				if !wire {
					_ = ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp091.Publishing{
						CorrelationId: d.CorrelationId,
						Body:          d.Body,
					})
					_ = d.Ack(false)
					continue
				}
				start := time.Now()
				_ = ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp091.Publishing{
					ContentType: wireContentType, CorrelationId: d.CorrelationId, AppId: queue, Type: "result",
					Headers: amqp091.Table{"topicrpc-elapsed": int64(time.Since(start))},
					Body:    d.Body,
				})
				_ = d.Ack(false)
			}
		}()
	}
}

func newRawServers(b *testing.B, url string) *rawServers {
	s := &rawServers{conn: dialRaw(b, url)}
	b.Cleanup(func() { _ = s.conn.Close() })
	return s
}

// rawClient is the tutorial's RPC client with direct reply-to: it publishes
// on the channel that consumes amq.rabbitmq.reply-to and routes replies to
// the waiting caller by correlation id.
//
// With wire, it speaks topicrpc's wire protocol by hand instead, what
// adapters/amqp sends and expects (doc.go there): the channel in confirm
// mode, requests published mandatory with the command as type, a timestamp,
// a per-message TTL and the target, sent and deadline headers, and one
// reply per server (the result: a fast handler sends no separate ack)
// awaited after the broker's confirm. It
// shows how much of topicrpc's cost is its protocol and how much its code.
type rawClient struct {
	conn *amqp091.Connection
	ch   *amqp091.Channel
	seq  atomic.Uint64
	wire bool

	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func newRawClient(b *testing.B, url string, wire bool) *rawClient {
	b.Helper()
	c := &rawClient{conn: dialRaw(b, url), waiting: make(map[string]chan struct{}), wire: wire}
	b.Cleanup(func() { _ = c.conn.Close() })
	ch, err := c.conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if wire {
		if err := ch.Confirm(false); err != nil {
			b.Fatal(err)
		}
	}
	replies, err := ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.ch = ch
	go func() {
		for d := range replies {
			c.mu.Lock()
			w := c.waiting[d.CorrelationId]
			c.mu.Unlock()
			if w != nil {
				w <- struct{}{}
			}
		}
	}()
	return c
}

// call publishes body to key on exchange and waits for n servers' replies.
func (c *rawClient) call(exchange, key string, body []byte, n int) error {
	id := strconv.FormatUint(c.seq.Add(1), 36)
	w := make(chan struct{}, n)
	c.mu.Lock()
	c.waiting[id] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	msg := amqp091.Publishing{
		CorrelationId: id,
		ReplyTo:       "amq.rabbitmq.reply-to",
		Body:          body,
	}
	if !c.wire {
		if err := c.ch.PublishWithContext(context.Background(), exchange, key, false, false, msg); err != nil {
			return err
		}
	} else {
		now := time.Now()
		deadline := now.Add(callTimeout)
		msg.ContentType, msg.Type, msg.Timestamp = wireContentType, "echo", now
		msg.Expiration = strconv.FormatInt(callTimeout.Milliseconds(), 10)
		msg.Headers = amqp091.Table{"topicrpc-target": key, "topicrpc-sent": now.UnixMilli(),
			"topicrpc-deadline": deadline.UnixMilli()}
		dc, err := c.ch.PublishWithDeferredConfirmWithContext(context.Background(), exchange, key, true, false, msg)
		if err != nil {
			return err
		}
		if ok, err := dc.WaitContext(context.Background()); err != nil || !ok {
			return fmt.Errorf("protocol call %s: not confirmed (%v)", key, err)
		}
	}
	timeout := time.NewTimer(callTimeout)
	defer timeout.Stop()
	for i := range n {
		select {
		case <-w:
		case <-timeout.C:
			return fmt.Errorf("baseline call %s: %d of %d replies after %v", key, i, n, callTimeout)
		}
	}
	return nil
}

// wireContentType is the content type of topicrpc's requests and replies.
const wireContentType = "text/plain; charset=utf-8"

// --- topicrpc on adapters/amqp -------------------------------------------------

// startFleet starts one app.Server per ServerConfig on one transport (one
// connection) in ns, with the defaults a user gets (bindings all.# and
// <name>.#, work groups, presence); they are stopped when the benchmark
// ends, before ns is deleted.
func startFleet(b *testing.B, ns *amqptest.Namespace, cfgs []app.ServerConfig) {
	b.Helper()
	t := ns.Transport(b, named(ns))
	ns.Track("work.all")
	for _, c := range cfgs {
		s := app.NewServer(t, c, quiet)
		testkit.Start(b, s, 30*time.Second)
		ns.Track(s.Name())
		ns.Track("work." + s.Name())
	}
}

// newClient returns an app.Client on a transport of its own (its own
// connection) in ns; mods adjust the transport's configuration.
func newClient(b *testing.B, ns *amqptest.Namespace, ccfg app.ClientConfig, mods ...func(*amqp.Config)) *app.Client {
	b.Helper()
	t := ns.Transport(b, append([]func(*amqp.Config){named(ns)}, mods...)...)
	if ccfg.Timeout == 0 {
		ccfg.Timeout = callTimeout
	}
	return app.NewClient(t, ccfg, quiet)
}

// fastRoutes is the fast path a long-lived client takes to know who should
// answer: the management API's bindings, read at most once a second.
func fastRoutes(ns *amqptest.Namespace) func(*amqp.Config) {
	return func(c *amqp.Config) {
		ns.WithManagement(c)
		c.RoutesTTL = time.Second
	}
}

var echo = domain.Command{Name: "echo", Args: "hello"}

// callOp returns an op that calls target and checks that want servers
// answered ok.
func callOp(c *app.Client, target string, want int, opts ...app.CallOption) func() error {
	return func() error {
		call, err := c.Call(context.Background(), target, echo, opts...)
		if err != nil {
			return err
		}
		for _, ok := call.Next(); ok; _, ok = call.Next() {
		}
		if s := call.Summary(); s.OK != want {
			return fmt.Errorf("topicrpc call %s: %d ok of %d, %s", target, s.OK, want, s.Reason)
		}
		return nil
	}
}

var beam struct {
	mu  sync.Mutex
	pid int
}

// brokerPID returns the process id of the broker when it runs on this
// machine and its management API says which it is, else 0. A freshly
// started node may not say yet: it asks again next time.
func brokerPID() int {
	beam.mu.Lock()
	defer beam.mu.Unlock()
	if beam.pid != 0 {
		return beam.pid
	}
	api := os.Getenv(testkit.EnvManagementURL)
	if api == "" {
		return 0
	}
	var nodes []struct {
		OSPid string `json:"os_pid"`
	}
	if err := getJSON(api+"/api/nodes", &nodes); err != nil || len(nodes) != 1 {
		return 0
	}
	pid, err := strconv.Atoi(nodes[0].OSPid)
	if err != nil {
		return 0
	}
	if comm, err := os.ReadFile("/proc/" + nodes[0].OSPid + "/comm"); err == nil && strings.HasPrefix(string(comm), "beam") {
		beam.pid = pid
	}
	return beam.pid
}

// getJSON decodes the answer to a GET of url (credentials in its userinfo).
func getJSON(url string, v any) error {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
