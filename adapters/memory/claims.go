package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/ports"
)

// claimTable holds the claims of balanced requests (ports.Claimer) by call
// id, for the whole Transport (the whole in-memory broker): the first
// delivery of a call id to claim it holds it until its time, even after its
// handler returns; a delivery given back to its work queue releases it.
// Expired claims are swept every claimSweep claims. Safe for concurrent use.
type claimTable struct {
	mu      sync.Mutex
	held    map[string]claimEntry
	inserts int
}

type claimEntry struct {
	m     *message // the delivery holding the claim
	until time.Time
}

// claimSweep is how many claims are taken between sweeps of expired ones.
const claimSweep = 1024

// claim gives id's claim to m until until, unless another delivery holds it.
func (c *claimTable) claim(id string, m *message, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.held[id]; ok && e.m != m && now.Before(e.until) {
		return fmt.Errorf("claim %s: %w", id, ports.ErrClaimed)
	}
	if c.held == nil {
		c.held = make(map[string]claimEntry)
	}
	if c.inserts++; c.inserts%claimSweep == 0 {
		for k, e := range c.held {
			if !now.Before(e.until) {
				delete(c.held, k)
			}
		}
	}
	c.held[id] = claimEntry{m: m, until: until}
	return nil
}

// release drops id's claim if m holds it.
func (c *claimTable) release(id string, m *message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.held[id]; ok && e.m == m {
		delete(c.held, id)
	}
}

// Claim implements ports.Claimer: the claim is the Transport's, held by this
// delivery; it fails once the request went back to the queue.
func (r workReply) Claim(ctx context.Context, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("claim %s: %w", r.m.req.ID, err)
	}
	r.w.mu.RLock()
	defer r.w.mu.RUnlock()
	if r.w.gaveUp {
		return fmt.Errorf("claim %s: the request went back to work queue %s", r.m.req.ID, r.w.q.name)
	}
	return r.w.claims.claim(r.m.req.ID, r.m, until, time.Now())
}
