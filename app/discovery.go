package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// DefaultRegisterTTL is the default ClientConfig.RegisterTTL.
const DefaultRegisterTTL = time.Second

// registerView tells a client, from the fleet register, who a target
// reaches: the registered servers whose bindings match it, each up
// (expected), down (its queue has no consumer: gone without a goodbye) or
// stopped (it said goodbye). What it learns of a target is kept for the
// client's RegisterTTL, so that a client making many calls reads the
// register once per TTL, not once per call. Safe for concurrent use.
type registerView struct {
	reg   ports.Register
	ttl   time.Duration
	trust domain.Trust // entries not signed with its keys are left out; the zero Trust takes all

	mu      sync.Mutex
	g       *domain.Register // nil until read, and when stale
	readAt  time.Time
	targets map[string]*reach // per target, for ttl
}

// reach is what the register says a target reaches.
type reach struct {
	at      time.Time
	servers []string         // up: the call waits for them
	absent  []domain.Absence // down or stopped: named at once
}

// maxTargets bounds the targets a view keeps; past it they are forgotten, so
// that random targets cannot grow a client's memory.
const maxTargets = 4096

func newRegisterView(reg ports.Register, ttl time.Duration, trust domain.Trust) *registerView {
	return &registerView{reg: reg, ttl: ttl, trust: trust, targets: make(map[string]*reach)}
}

// lookup returns what the register says target reaches at now; an empty
// reach when no registered server's bindings match it.
func (v *registerView) lookup(ctx context.Context, target string, now time.Time) (*reach, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r := v.targets[target]; r != nil && now.Sub(r.at) < v.ttl {
		return r, nil
	}
	if v.g == nil || now.Sub(v.readAt) >= v.ttl {
		g, err := v.reg.ReadRegister(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the fleet register: %w", err)
		}
		v.g, v.readAt = signedOnly(g, v.trust), now
		clear(v.targets)
	}
	regs := v.g.Reach(target)
	r := &reach{at: now}
	if len(regs) > 0 {
		// A server of a shared queue (ServerConfig.Queue) cannot be told
		// apart from the queue's other consumers: it counts as up.
		var queues []string
		var own []int
		for i, x := range regs {
			if x.Left.IsZero() && x.Queue == x.Server {
				queues = append(queues, x.Queue)
				own = append(own, i)
			}
		}
		counts, err := v.reg.Consumers(ctx, queues)
		if err != nil {
			return nil, fmt.Errorf("check who is up: %w", err)
		}
		down := make(map[int]bool, len(own))
		for j, i := range own {
			down[i] = counts[j] <= 0
		}
		for i, x := range regs {
			switch {
			case !x.Left.IsZero():
				r.absent = append(r.absent, domain.Absence{Server: x.Server, State: domain.StateStopped, LastSeen: x.Left})
			case down[i]:
				r.absent = append(r.absent, domain.Absence{Server: x.Server, State: domain.StateDown, LastSeen: x.Seen})
			default:
				r.servers = append(r.servers, x.Server)
			}
		}
	}
	if len(v.targets) >= maxTargets {
		clear(v.targets)
	}
	v.targets[target] = r
	return r, nil
}

// signedOnly returns g without the entries not signed with a key of trust
// (all of g when trust is zero): without a key, nobody can make a client
// expect a server that does not exist, or believe one gone.
func signedOnly(g *domain.Register, trust domain.Trust) *domain.Register {
	if trust.IsZero() {
		return g
	}
	var kept []domain.Registration
	for _, r := range g.All() {
		if trust.VerifyRegistration(&r) {
			kept = append(kept, r)
		}
	}
	return domain.NewRegister(kept)
}
