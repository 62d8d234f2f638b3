package amqp_test

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
)

// proxy forwards TCP connections to a broker and plays a broken network:
// hold makes the broker seem to stop answering, cut breaks every connection
// (new ones get through), down cuts them all and turns new ones away (they
// are accepted and closed at once: the handshake fails) until up.
type proxy struct {
	ln     net.Listener
	target string // the broker's host:port
	// url is the broker's URL with the proxy's address in place of the
	// broker's.
	url  string
	held atomic.Bool
	off  atomic.Bool
	// heldPublish is signalled when a client's basic.publish is held back:
	// a Send is then waiting for its confirm.
	heldPublish chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newProxy starts a proxy to the broker at brokerURL; it is stopped, and
// every connection through it closed, when tb ends.
func newProxy(tb testing.TB, brokerURL string) *proxy {
	tb.Helper()
	u, err := amqp091.ParseURI(brokerURL)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, target: net.JoinHostPort(u.Host, strconv.Itoa(u.Port)), conns: make(map[net.Conn]struct{}), heldPublish: make(chan struct{}, 1)}
	addr := ln.Addr().(*net.TCPAddr)
	u.Host, u.Port = addr.IP.String(), addr.Port
	p.url = u.String()
	p.wg.Go(p.accept)
	tb.Cleanup(func() {
		ln.Close()
		p.down()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.off.Load() {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.off.Load() { // down ran meanwhile
			p.mu.Unlock()
			c.Close()
			b.Close()
			continue
		}
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(b, c, true) })
		p.wg.Go(func() { p.pipe(c, b, false) })
	}
}

// pipe copies src to dst, holding data back while the proxy is held, and
// closes both when either side ends. toBroker is the client's direction.
func (p *proxy) pipe(dst, src net.Conn, toBroker bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if toBroker && p.held.Load() && hasPublish(buf[:n]) {
			select {
			case p.heldPublish <- struct{}{}:
			default:
			}
		}
		for p.held.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// hasPublish reports whether b holds the start of an AMQP method frame
// (type 1, channel, size) carrying basic.publish (class 60, method 40).
func hasPublish(b []byte) bool {
	for i := 0; i+11 <= len(b); i++ {
		if b[i] == 1 && b[i+7] == 0 && b[i+8] == 60 && b[i+9] == 0 && b[i+10] == 40 {
			return true
		}
	}
	return false
}

// hold stops forwarding: the broker seems to stop answering.
func (p *proxy) hold() { p.held.Store(true) }

// awaitHeldPublish waits until the proxy, held, holds back a publish: the
// Send that made it is waiting for its confirm. It fails the test after
// timeout.
func (p *proxy) awaitHeldPublish(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	select {
	case <-p.heldPublish:
	case <-time.After(timeout):
		tb.Fatalf("no publish reached the held proxy within %v", timeout)
	}
}

// cut closes every connection, as a network that broke; new connections
// get through.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held.Store(false)
	for c := range p.conns {
		c.Close()
	}
}

// down cuts every connection and turns new ones away until up.
func (p *proxy) down() {
	p.mu.Lock()
	p.off.Store(true)
	p.mu.Unlock()
	p.cut()
}

// up lets connections through again.
func (p *proxy) up() { p.off.Store(false) }

// via routes a transport through the proxy (a mod for Namespace.Transport).
func (p *proxy) via(c *amqp.Config) { c.URL = p.url }
