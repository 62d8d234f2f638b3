package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Roster is a live view of the servers on a transport, kept from their
// presence announcements (hello, heartbeat, goodbye); a server silent for
// domain.MissedHeartbeats heartbeat intervals is dropped. A Client given a
// Roster uses it to know who should answer when the transport cannot tell.
// Safe for concurrent use.
type Roster struct {
	t     ports.Transport
	log   *slog.Logger
	trust domain.Trust // unsigned and forged messages are ignored; the zero Trust takes all
	watch ports.Subscription
	// refused counts the messages ignored for want of a valid signature;
	// the first is logged.
	refused int

	mu      sync.Mutex
	r       *domain.Roster
	changed time.Time     // last time the membership changed
	signal  chan struct{} // signalled on every change
}

// NewRoster returns a roster for t; Start begins filling it. log may be nil.
// With the fleet key (may be nil), it takes only presence messages signed
// with it (domain.VerifyPresence).
func NewRoster(t ports.Transport, key []byte, log *slog.Logger) *Roster {
	return NewRosterTrusting(t, domain.Trust{FleetKey: key}, log)
}

// NewRosterTrusting is NewRoster taking only presence messages signed with
// a key of trust: the fleet key, or the announcing server's own public key.
func NewRosterTrusting(t ports.Transport, trust domain.Trust, log *slog.Logger) *Roster {
	if log == nil {
		log = slog.Default()
	}
	return &Roster{t: t, trust: trust, log: log, r: domain.NewRoster(), changed: time.Now(), signal: make(chan struct{}, 1)}
}

// Start watches the servers' announcements on the transport and asks every
// server to say hello. Call Settle to wait for the answers.
func (r *Roster) Start(ctx context.Context) error {
	w, err := r.t.WatchPresence(ctx, ports.WatchAnnouncements, r.observe)
	if err != nil {
		return fmt.Errorf("watch presence: %w", err)
	}
	r.mu.Lock()
	r.watch = w
	r.changed = time.Now()
	r.mu.Unlock()
	if err := r.t.Announce(ctx, domain.Presence{Kind: domain.PresenceQuery, Sent: time.Now()}); err != nil {
		_ = w.Close(ctx)
		return fmt.Errorf("ask who is there: %w", err)
	}
	return nil
}

func (r *Roster) observe(p domain.Presence) {
	if !r.trust.IsZero() && p.Kind != domain.PresenceQuery && !r.trust.VerifyPresence(&p) {
		r.mu.Lock()
		if r.refused++; r.refused == 1 {
			r.log.Warn("ignored a presence message not signed with the fleet key (further ones are counted, not logged)",
				"server", clipText(p.Server, 64), "kind", p.Kind.String())
		}
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	changed := r.r.Observe(p, time.Now())
	if changed {
		r.changed = time.Now()
	}
	r.mu.Unlock()
	if changed {
		select {
		case r.signal <- struct{}{}:
		default:
		}
	}
}

// Settle waits until the roster has not changed for quiet (the servers have
// answered the query), or until ctx ends. It returns at once when the roster
// has been quiet long enough already.
func (r *Roster) Settle(ctx context.Context, quiet time.Duration) {
	for {
		r.mu.Lock()
		wait := quiet - time.Since(r.changed)
		r.mu.Unlock()
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.signal:
			t.Stop()
		}
	}
}

// Members returns the live servers, sorted by name.
func (r *Roster) Members() []domain.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.r.Expire(now)
	return r.r.Members(now)
}

// Reach returns the live servers whose bindings match target, sorted.
func (r *Roster) Reach(target string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.r.Expire(now)
	return r.r.Reach(target, now)
}

// Len returns the number of servers in the roster.
func (r *Roster) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Len()
}

// Close stops watching.
func (r *Roster) Close(ctx context.Context) error {
	r.mu.Lock()
	w := r.watch
	r.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.Close(ctx)
}
