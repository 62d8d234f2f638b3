package amqp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Claims of balanced requests (ports.Claimer). A claim is an exclusive
// queue, <QueuePrefix>claim.<digest of the call id>, declared by the
// connection that holds the delivery: RabbitMQ lets one connection own an
// exclusive queue, and refuses the declaration from any other with 405
// RESOURCE_LOCKED, atomically; the queue goes when its connection closes,
// so a member that dies mid-job releases its claims with its deliveries,
// and the broker's redelivery can be claimed by the member that runs it
// again (at least once). A finished call's claim stays until nobody may
// run the request any more (Claim's until), when the link deletes it;
// x-expires (claimExpiry) removes what a link left behind. A delivery given
// back to its queue releases its claim first (queue.delete).
//
// Within one connection the exclusive queue cannot tell two deliveries
// apart (its owner may declare it again), so the link also keeps the claims
// it holds by call id, with the delivery that holds each: that is checked
// first, and also spares a broker round trip for a copy that reaches the
// same connection again.
//
// Cost: one queue.declare per balanced request (RabbitMQ starts a queue
// process: 1.5–2.5 ms measured here under load, against 0.1 ms for a round
// trip), and a queue on the broker per call until its claim expires.

// claimSet is one link's claims. Safe for concurrent use.
type claimSet struct {
	mu    sync.Mutex
	held  map[string]heldClaim // call id → claim
	swept time.Time            // when held was last swept of expired claims

	once  sync.Once
	slots chan *claimChan // the claims channels not in use
}

type heldClaim struct {
	owner *replyWriter // nil: held by another connection (405)
	until time.Time
}

// claimQueue is the name of the claim queue of call id.
func claimQueue(prefix, id string) string {
	sum := sha256.Sum256([]byte(id))
	return prefix + claimQueuePrefix + hex.EncodeToString(sum[:16])
}

// claimQueuePrefix starts claim queues' names after QueuePrefix; a server
// queue may not start with it.
const claimQueuePrefix = "claim."

// claim gives id's claim to owner until until, unless another delivery
// holds it (an error wrapping ports.ErrClaimed).
func (s *claimSet) claim(ctx context.Context, l *link, prefix string, owner *replyWriter, id string, until time.Time) error {
	now := time.Now()
	s.mu.Lock()
	if e, ok := s.held[id]; ok && now.Before(e.until) {
		s.mu.Unlock()
		if e.owner == owner {
			return nil
		}
		return ports.ErrClaimed
	}
	if s.held == nil {
		s.held = make(map[string]heldClaim)
	}
	var expired []string
	if now.Sub(s.swept) >= time.Second {
		s.swept = now
		for k, e := range s.held {
			if !now.Before(e.until) {
				delete(s.held, k)
				if e.owner != nil {
					expired = append(expired, k)
				}
			}
		}
	}
	s.held[id] = heldClaim{owner: owner, until: until}
	s.mu.Unlock()
	if len(expired) > 0 {
		go s.drop(l, prefix, expired)
	}

	err := s.do(ctx, l, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(claimQueue(prefix, id), false, false, true, false,
			amqp.Table{"x-expires": int32(claimExpiry.Milliseconds())})
		return err
	})
	if err == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.held[id]; ok && e.owner == owner {
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.ResourceLocked {
			s.held[id] = heldClaim{until: until} // another connection's
			return ports.ErrClaimed
		}
		delete(s.held, id)
	}
	return err
}

// claimExpiry is every claim queue's x-expires: the longest a claim may be
// needed (a signed request is refused once sent longer ago than the replay
// window), the same for every claim, so that declaring one again on its
// connection never fails for inequivalent arguments. The link deletes its
// claims' queues sooner, once their time is past (drop), while it lives.
const claimExpiry = domain.DefaultReplayWindow + 5*time.Second

// drop deletes the queues of claims past their time.
func (s *claimSet) drop(l *link, prefix string, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), claimExpiry)
	defer cancel()
	for _, id := range ids {
		if err := s.do(ctx, l, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(claimQueue(prefix, id), false, false, false)
			return err
		}); err != nil {
			return // the link is going: its claims go with it
		}
	}
}

// release drops id's claim if owner holds it, and deletes its queue, so
// that another connection may claim it: call it before the delivery goes
// back to its queue. It waits at most until ctx ends.
func (s *claimSet) release(ctx context.Context, l *link, log *slog.Logger, prefix string, owner *replyWriter, id string) {
	s.mu.Lock()
	e, ok := s.held[id]
	mine := ok && e.owner == owner
	if mine {
		delete(s.held, id)
	}
	s.mu.Unlock()
	if !mine {
		return
	}
	if err := s.do(ctx, l, func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(claimQueue(prefix, id), false, false, false)
		return err
	}); err != nil && !l.down() {
		log.Warn("amqp: could not release the claim of a balanced request; it expires by itself", "call_id", truncate(id, 64), "error", err)
	}
}

// claimChannels is how many claims a link declares at once, each on a
// channel of its own: RabbitMQ starts a queue per claim, 5 ms apiece one
// after the other here under load, 1.6–2.2 ms apiece 4 to 16 at a time.
const claimChannels = 8

// do runs fn on one of the claims channels, opening it if need be, alone on
// it, bounded by ctx and by the broker's flow control.
func (s *claimSet) do(ctx context.Context, l *link, fn func(*amqp.Channel) error) error {
	if err := l.gate.wait(ctx, l.lost, l.failure); err != nil {
		return err
	}
	s.once.Do(func() {
		s.slots = make(chan *claimChan, claimChannels)
		for range claimChannels {
			s.slots <- &claimChan{}
		}
	})
	var c *claimChan
	select {
	case c = <-s.slots:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.lost:
		return l.failure()
	}
	return runCtx(ctx, func() error {
		defer func() { s.slots <- c }()
		if c.ch == nil || c.ch.IsClosed() {
			ch, err := l.conn.Channel()
			if err != nil {
				return fmt.Errorf("open claims channel: %w", err)
			}
			c.ch = ch
		}
		return fn(c.ch)
	}, func() {})
}

// claimChan is one claims channel, used by one claim at a time; a refused
// claim (405) closes it, and the next use opens another.
type claimChan struct{ ch *amqp.Channel }

// Claim implements ports.Claimer for a request taken from a work queue:
// the claim is held on the connection that delivered the request.
func (w guardedReply) Claim(ctx context.Context, until time.Time) error {
	if err := w.refused(); err != nil {
		return err
	}
	l := w.g.link
	if err := l.claims.claim(ctx, l, w.q.t.cfg.QueuePrefix, w.replyWriter, w.callID, until); err != nil {
		return fmt.Errorf("amqp: claim %s: %w", truncate(w.callID, 64), err)
	}
	w.g.holdClaim(w.replyWriter)
	return nil
}

var _ ports.Claimer = guardedReply{}

// holdClaim records that rw's delivery holds a claim, until settled.
func (g *generation) holdClaim(rw *replyWriter) {
	g.claimMu.Lock()
	defer g.claimMu.Unlock()
	if g.claimed == nil {
		g.claimed = make(map[*replyWriter]struct{})
	}
	g.claimed[rw] = struct{}{}
	rw.claimed.Store(true)
}

// releaseClaim releases rw's claim, if it holds one, before its delivery
// goes back to the queue (requeued, or its channel broke).
func (g *generation) releaseClaim(rw *replyWriter) {
	g.claimMu.Lock()
	_, held := g.claimed[rw]
	delete(g.claimed, rw)
	g.claimMu.Unlock()
	if held {
		ctx, cancel := context.WithTimeout(g.c.t.ctx, g.c.t.cfg.DialTimeout)
		defer cancel()
		g.link.claims.release(ctx, g.link, g.c.log, g.c.t.cfg.QueuePrefix, rw, rw.callID)
	}
}

// settledClaim forgets rw's claim once its delivery is acknowledged or
// rejected: the claim stays on the broker until it expires.
func (g *generation) settledClaim(rw *replyWriter) {
	if !rw.claimed.Load() {
		return
	}
	g.claimMu.Lock()
	delete(g.claimed, rw)
	g.claimMu.Unlock()
}

// releaseClaims releases the claims of every delivery g had not settled
// when its channel broke: the broker requeues them at once, and the
// consumer that takes one must be able to claim it.
func (g *generation) releaseClaims() {
	g.claimMu.Lock()
	rws := make([]*replyWriter, 0, len(g.claimed))
	for rw := range g.claimed {
		rws = append(rws, rw)
	}
	g.claimMu.Unlock()
	for _, rw := range rws {
		g.releaseClaim(rw)
	}
}
