package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Poison reply-to addresses. A well-formed direct reply-to address whose
// pid names a node the broker does not know makes RabbitMQ 3.10 crash the
// channel that publishes to it and close that channel's whole connection
// (541 INTERNAL_ERROR, every channel on it: measured on 3.10.8). A server
// replying on the channel that delivered the request would lose every
// request it held, the poisonous one included, which comes back and closes
// the next connection too.
//
// So a server never publishes to a direct reply-to node it has not seen
// work: replyGuard sends the first reply to each node (by its hash, which is
// all the broker decodes the node from) over a connection of its own, the
// probe connection, one reply at a time and publisher-confirmed. A confirm
// proves the node: its later replies go out on the delivering channel as
// before, for provenNodeTTL. A probe connection that closes while a reply
// waits for its confirm proves the node poisonous: the reply is refused,
// the delivery rejected, the node remembered (up to badNodesMax of them), so
// that the next replies to it are refused at once; the probe connection is
// dialled again, no sooner than a backoff after the last poison (100 ms
// doubling to 10 s), on the next probe. Replies to queue names (ReplyQueue
// clients) are never at risk: an unknown queue only drops them.

// provenNodeTTL is how long a proven node's replies skip the probe: a node
// removed from the cluster turns its hash poisonous, so it is proven again
// now and then (one confirmed round trip a minute per node).
const provenNodeTTL = time.Minute

// provenMax bounds the nodes proven at once.
const provenMax = 64

// badNodesMax bounds the poisonous nodes remembered: beyond it the oldest
// half is forgotten, and a forgotten one costs one more probe connection.
const badNodesMax = 1024

// ErrPoisonReplyTo is wrapped by the error of a reply to a direct reply-to
// address whose node makes the broker close the connection that publishes
// to it. The request is rejected, not redelivered.
var ErrPoisonReplyTo = errors.New("reply-to names a node unknown to the broker (publishing to it closes the connection)")

// replyGuard decides where a reply to a direct reply-to address goes, and
// runs the probe connection. It is safe for concurrent use.
type replyGuard struct {
	cfg    Config
	dialer *dialer // the probe connection's
	log    *slog.Logger
	ctx    context.Context // the Transport's: ends when it closes

	mu     sync.Mutex
	proven map[string]time.Time // node hash → until when it needs no probe; at most one entry per node of the cluster
	bad    map[string]struct{}  // node hashes that closed the probe connection
	badSeq []string             // bad, oldest first

	warmed    atomic.Bool
	probe     sync.Mutex // one probe at a time: a closed connection then names its poison
	conn      *amqp.Connection
	ch        *amqp.Channel
	closes    chan *amqp.Error // the probe connection's NotifyClose
	chCloses  chan *amqp.Error // its channel's
	confirms  chan amqp.Confirmation
	back      *backoff
	notBefore time.Time // no dial before this, after a poison; guarded by mu
}

// newReplyGuard returns the guard of a Transport of cfg, whose ctx ends
// when it closes; its probe connection goes through a dialer of its own
// (nil in tests that never probe), named apart in the management UI.
func newReplyGuard(ctx context.Context, cfg Config) (*replyGuard, error) {
	g := &replyGuard{cfg: cfg, log: cfg.Logger, ctx: ctx, proven: map[string]time.Time{}, bad: map[string]struct{}{},
		back: newBackoff()}
	if len(cfg.brokers()) == 0 {
		return g, nil
	}
	d, err := newDialer(cfg.named(" (reply probe)"), nil)
	if err != nil {
		return nil, err
	}
	g.dialer = d
	return g, nil
}

// route says how a reply to replyTo must go: safe (on the delivering
// channel), through a probe, or refused (the node is known poisonous).
func (g *replyGuard) route(replyTo string, now time.Time) (node string, safe bool, err error) {
	var buf [maxPid]byte
	hash, direct, ok := directNode(replyTo, &buf)
	switch {
	case !ok:
		return "", false, fmt.Errorf("%w: malformed direct reply-to address", ErrPoisonReplyTo)
	case !direct:
		return "", true, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, isBad := g.bad[string(hash)]; isBad {
		return string(hash), false, ErrPoisonReplyTo
	}
	until, seen := g.proven[string(hash)]
	// A proof past its time still holds while the probe connection backs
	// off: poison must not cut a server off from the nodes it answers.
	if now.Before(until) || seen && now.Before(g.notBefore) {
		return "", true, nil
	}
	return string(hash), false, nil
}

// send publishes msg to replyTo over the probe connection and waits for the
// broker's confirm, at most until ctx ends: a confirm proves node. When the
// connection closes instead, node is poisonous: send logs it in one line
// naming replyTo, remembers it and returns an error wrapping
// ErrPoisonReplyTo. Probes run one at a time.
func (g *replyGuard) send(ctx context.Context, node, replyTo, callID string, msg *amqp.Publishing) error {
	g.probe.Lock()
	defer g.probe.Unlock()
	// A probe before us may have settled node's fate.
	if _, safe, err := g.route(replyTo, time.Now()); err != nil || safe {
		if err != nil {
			return err
		}
		return errProven
	}
	if err := g.open(ctx); err != nil {
		return err
	}
	if err := g.ch.PublishWithContext(ctx, "", replyTo, false, false, *msg); err != nil {
		g.drop()
		return fmt.Errorf("probe connection: %w", err)
	}
	confirms := g.confirms
	for {
		var e *amqp.Error
		select {
		case c, ok := <-confirms:
			if !ok {
				confirms = nil // the channel closed: its close says why
				continue
			}
			if !c.Ack { // the broker took no harm: the node is safe
				g.log.Debug("amqp: probe reply nacked", "call_id", truncate(callID, 64))
			}
			g.prove(node, time.Now())
			g.back = newBackoff()
			return nil
		case e = <-g.closes:
		case e = <-g.chCloses:
		case <-ctx.Done():
			// Unknown: drop the connection rather than leave a confirm behind.
			g.drop()
			return ctx.Err()
		case <-g.ctx.Done():
			g.drop()
			return fmt.Errorf("probe connection: %w", errTransportClosed)
		}
		g.drop()
		if e == nil || e.Code != amqp.InternalError {
			// Lost for another reason (a broker restart, the network):
			// nothing learned about the node.
			return fmt.Errorf("probe connection lost: %w", ErrConnectionLost)
		}
		wait := g.back.next()
		g.poisoned(node, time.Now().Add(wait))
		g.log.Warn("amqp: refused a poisonous reply-to: replying to it closed the probe connection; the request is rejected",
			"reply_to", truncate(replyTo, 255), "call_id", truncate(callID, 64), "node_hash", node, "error", e.Error(),
			"redial_after", wait.Round(time.Millisecond).String())
		return ErrPoisonReplyTo
	}
}

// prove remembers node as safe for provenNodeTTL from now. It keeps at most
// provenMax nodes (a cluster has a handful), dropping expired ones first.
func (g *replyGuard) prove(node string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.proven[node]; !ok && len(g.proven) >= provenMax {
		for n, until := range g.proven {
			if !now.Before(until) {
				delete(g.proven, n)
			}
		}
		if len(g.proven) >= provenMax {
			return // proven again next time
		}
	}
	g.proven[node] = now.Add(provenNodeTTL)
}

// errProven tells send's caller that the node was proven meanwhile: publish
// on the delivering channel.
var errProven = errors.New("node proven")

// poisoned remembers node as poisonous, and that the probe connection may
// not be dialled again before notBefore.
func (g *replyGuard) poisoned(node string, notBefore time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.notBefore = notBefore
	delete(g.proven, node)
	if _, ok := g.bad[node]; ok {
		return
	}
	if len(g.badSeq) >= badNodesMax {
		old := g.badSeq[:len(g.badSeq)/2]
		for _, n := range old {
			delete(g.bad, n)
		}
		g.badSeq = append([]string(nil), g.badSeq[len(old):]...)
	}
	g.bad[node] = struct{}{}
	g.badSeq = append(g.badSeq, node)
}

// open dials the probe connection unless it is open, no sooner than
// notBefore; g.probe must be held.
func (g *replyGuard) open(ctx context.Context) error {
	if g.conn != nil && !g.conn.IsClosed() {
		return nil
	}
	g.drop()
	g.mu.Lock()
	wait := time.Until(g.notBefore)
	g.mu.Unlock()
	if wait > 0 {
		// Refuse rather than wait: a stream of poison would otherwise
		// hold every worker of the server here.
		return fmt.Errorf("%w (for %s more)", ErrProbeBackoff, wait.Round(time.Millisecond))
	}
	if g.ctx.Err() != nil {
		return fmt.Errorf("probe connection: %w", errTransportClosed)
	}
	if g.dialer == nil {
		return errors.New("probe connection: no broker")
	}
	conn, _, err := g.dialer.dial(ctx)
	if err != nil {
		return fmt.Errorf("probe connection: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return fmt.Errorf("probe connection: open channel: %w", err)
	}
	g.conn, g.ch = conn, ch
	g.closes = conn.NotifyClose(make(chan *amqp.Error, 1))
	g.chCloses = ch.NotifyClose(make(chan *amqp.Error, 1))
	g.confirms = ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	return nil
}

var errTransportClosed = errors.New("transport closed")

// ErrProbeBackoff is wrapped by the error of a reply to a direct reply-to
// node never proven, refused while the probe connection waits to redial
// after a poisonous reply-to. The request is rejected, not redelivered.
var ErrProbeBackoff = errors.New("reply-to node not yet proven, and the probe connection is backing off after a poisonous reply-to")

// drop closes the probe connection, if any; g.probe must be held.
func (g *replyGuard) drop() {
	if g.conn != nil {
		_ = g.conn.CloseDeadline(time.Now().Add(g.cfg.DialTimeout))
		g.conn, g.ch = nil, nil
	}
}

// warm dials the probe connection in the background, once, so that a
// server's first reply to a node does not wait for a dial: Serve calls it.
// close waits for it (it holds probe throughout).
func (g *replyGuard) warm() {
	if g.dialer == nil || !g.warmed.CompareAndSwap(false, true) {
		return
	}
	g.probe.Lock()
	go func() {
		defer g.probe.Unlock()
		ctx, cancel := context.WithTimeout(g.ctx, g.dialer.budget())
		defer cancel()
		if err := g.open(ctx); err != nil {
			g.log.Debug("amqp: could not open the reply probe connection yet", "error", err)
		} else if g.ctx.Err() != nil {
			g.drop() // the Transport closed meanwhile
		}
	}()
}

// close closes the probe connection, waiting for a probe in progress.
func (g *replyGuard) close() {
	g.probe.Lock()
	defer g.probe.Unlock()
	g.drop()
}
