package amqp_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// urlEnv names the environment variable holding the test broker's URL.
const urlEnv = "TOPICRPC_TEST_AMQP_URL"

// brokerURL returns the test broker's URL or skips the test.
func brokerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skip(urlEnv + " is not set (e.g. amqp://guest:guest@127.0.0.1:5672/); skipping broker test")
	}
	return u
}

// env is one test's corner of the broker: its own exchange and queue prefix,
// deleted at the end.
type env struct {
	url      string
	exchange string
	prefix   string
	log      *slog.Logger

	mu     sync.Mutex
	queues map[string]bool // full names, to delete
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	url := brokerURL(tb)
	id := strings.ToLower(rand.Text()[:12])
	e := &env{
		url:      url,
		exchange: "topicrpc-test-" + id,
		prefix:   "topicrpc-test-" + id + ".",
		log:      testLogger(tb),
		queues:   make(map[string]bool),
	}
	tb.Cleanup(func() {
		conn, err := amqp091.Dial(url)
		if err != nil {
			tb.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			tb.Logf("cleanup: %v", err)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		for q := range e.queues {
			if _, err := ch.QueueDelete(q, false, false, false); err != nil {
				tb.Logf("cleanup: delete queue %s: %v", q, err)
				return
			}
		}
		if err := ch.ExchangeDelete(e.exchange, false, false); err != nil {
			tb.Logf("cleanup: delete exchange %s: %v", e.exchange, err)
		}
	})
	return e
}

func (e *env) config() amqp.Config {
	return amqp.Config{URL: e.url, Exchange: e.exchange, QueuePrefix: e.prefix, Logger: e.log, DialTimeout: 5 * time.Second}
}

// transport returns a Transport closed at the end of the test.
func (e *env) transport(tb testing.TB, mods ...func(*amqp.Config)) *amqp.Transport {
	tb.Helper()
	cfg := e.config()
	for _, m := range mods {
		m(&cfg)
	}
	tr, err := amqp.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := tr.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return tr
}

// serve starts ep on tr and closes the subscription at the end of the test.
func (e *env) serve(tb testing.TB, tr ports.Transport, ep ports.Endpoint, h ports.Handler) ports.Subscription {
	tb.Helper()
	e.track(ep.QueueName())
	sub, err := tr.Serve(context.Background(), ep, h)
	if err != nil {
		tb.Fatalf("Serve %s: %v", ep.Name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sub.Close(ctx); err != nil {
			tb.Errorf("close subscription %s: %v", ep.Name, err)
		}
	})
	return sub
}

// track marks the queue named name (without prefix) for deletion.
func (e *env) track(name string) {
	e.mu.Lock()
	e.queues[e.prefix+name] = true
	e.mu.Unlock()
}

// raw opens a plain amqp091 channel for publishing hand-made messages.
func (e *env) raw(tb testing.TB) *amqp091.Channel {
	tb.Helper()
	conn, err := amqp091.Dial(e.url)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("channel: %v", err)
	}
	return ch
}

// rawReplies declares a reply queue on ch and returns its name and deliveries.
func rawReplies(tb testing.TB, ch *amqp091.Channel) (string, <-chan amqp091.Delivery) {
	tb.Helper()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		tb.Fatalf("declare reply queue: %v", err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		tb.Fatalf("consume reply queue: %v", err)
	}
	return q.Name, d
}

// collector is a ReplySink keeping replies in a channel.
type collector struct{ ch chan domain.Reply }

func newCollector() *collector { return &collector{ch: make(chan domain.Reply, 4096)} }

func (c *collector) Deliver(r domain.Reply) {
	select {
	case c.ch <- r:
	default:
		panic("collector full")
	}
}

// take waits for n replies.
func (c *collector) take(tb testing.TB, n int, timeout time.Duration) []domain.Reply {
	tb.Helper()
	var got []domain.Reply
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case r := <-c.ch:
			got = append(got, r)
		case <-deadline:
			tb.Fatalf("got %d replies within %v, want %d: %+v", len(got), timeout, n, got)
		}
	}
	return got
}

// none checks that no reply arrives within wait.
func (c *collector) none(tb testing.TB, wait time.Duration) {
	tb.Helper()
	select {
	case r := <-c.ch:
		tb.Fatalf("unexpected reply %+v", r)
	case <-time.After(wait):
	}
}

// echo replies "<server>:<args>".
func echo(server string) ports.Handler {
	return func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		if err := rw.Reply(ctx, domain.Reply{Kind: domain.KindResult, Result: server + ":" + req.Command.Args}); err != nil {
			panic(err)
		}
	}
}

var idSeq atomic.Uint64

// request returns a request to target with a unique ID and a 10 s deadline.
func request(target, name, args string) *domain.Request {
	now := time.Now()
	return &domain.Request{
		ID:       "call-" + rand.Text()[:8] + "-" + strconv.FormatUint(idSeq.Add(1), 10),
		Target:   target,
		Command:  domain.Command{Name: name, Args: args},
		Sent:     now,
		Deadline: now.Add(10 * time.Second),
	}
}

func ctxTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// testLogger logs through tb until the test ends; later lines are dropped.
// Benchmarks log nothing.
func testLogger(tb testing.TB) *slog.Logger {
	if _, ok := tb.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	w := &testWriter{tb: tb}
	tb.Cleanup(w.stop)
	level := slog.LevelInfo
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// proxy forwards TCP connections to a broker and can hold or cut them, to
// test a broker that stops answering or a connection that breaks.
type proxy struct {
	ln     net.Listener
	target string
	held   atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.accept()
	tb.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go p.pipe(b, c)
		go p.pipe(c, b)
	}
}

// pipe copies src to dst, holding data back while the proxy is held.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.held.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// hold stops forwarding: the broker seems to stop answering.
func (p *proxy) hold() { p.held.Store(true) }

// cut closes every connection: the network broke.
func (p *proxy) cut() {
	p.held.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// proxyURL returns the broker URL with its host replaced by addr.
func proxyURL(tb testing.TB, brokerURL, addr string) string {
	tb.Helper()
	u, err := amqp091.ParseURI(brokerURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Host, u.Port = splitHostPort(tb, addr)
	return u.String()
}

// brokerAddr returns host:port of the broker URL.
func brokerAddr(tb testing.TB, brokerURL string) string {
	tb.Helper()
	u, err := amqp091.ParseURI(brokerURL)
	if err != nil {
		tb.Fatal(err)
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
}

func splitHostPort(tb testing.TB, addr string) (string, int) {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatal(err)
	}
	return host, n
}
