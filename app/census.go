package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Standing is where a registered server stands now.
type Standing string

// The standings of a registered server.
const (
	StandingUp      Standing = "up"      // its queue has a consumer
	StandingDown    Standing = "down"    // gone without a goodbye: no consumer
	StandingStopped Standing = "stopped" // said goodbye
)

// Registered is one server of the fleet register with its standing now.
type Registered struct {
	domain.Registration
	Standing Standing
}

// Census returns every server of the fleet register, sorted by name, with
// its standing now. A server of a shared queue (ServerConfig.Queue) that has
// not said goodbye counts as up while the queue has a consumer. With the
// fleet key (may be nil), entries not signed with it are left out.
func Census(ctx context.Context, reg ports.Register, key []byte) ([]Registered, error) {
	return CensusTrusting(ctx, reg, domain.Trust{FleetKey: key})
}

// CensusTrusting is Census keeping only the entries signed with a key of
// trust (the fleet key, or their own server's public key); all of them when
// trust is zero.
func CensusTrusting(ctx context.Context, reg ports.Register, trust domain.Trust) ([]Registered, error) {
	g, err := reg.ReadRegister(ctx)
	if err != nil {
		return nil, err
	}
	g = signedOnly(g, trust)
	all := g.All()
	queues := make([]string, len(all))
	for i, r := range all {
		queues[i] = r.Queue
	}
	counts, err := reg.Consumers(ctx, queues)
	if err != nil {
		return nil, fmt.Errorf("check who is up: %w", err)
	}
	out := make([]Registered, len(all))
	for i, r := range all {
		st := StandingUp
		switch {
		case !r.Left.IsZero():
			st = StandingStopped
		case counts[i] <= 0:
			st = StandingDown
		}
		out[i] = Registered{Registration: r, Standing: st}
	}
	return out, nil
}

// ErrNotRegistered: the server named is not in the fleet register.
var ErrNotRegistered = errors.New("not in the fleet register")

// ErrServerUp: the server named is up; forgetting it needs force.
var ErrServerUp = errors.New("the server is up")

// Forgotten is what Forget did for one server.
type Forgotten struct {
	Server string
	// Held is how many requests its queue held when it was deleted.
	Held int
	// QueueDeleted reports whether its queue was deleted; a queue with a
	// consumer (the server is up, forgotten with force) is kept.
	QueueDeleted bool
}

// Forget removes server from the fleet register and deletes its queue with
// the requests it held. It refuses a server that is up unless force (an up
// server forgotten records itself again at its next refresh, and keeps its
// queue); ErrNotRegistered for a name the register does not have.
func Forget(ctx context.Context, reg ports.Register, server string, force bool) (Forgotten, error) {
	f := Forgotten{Server: server}
	var queue string
	var refused error // fn's own error, returned as it is
	err := reg.UpdateRegister(ctx, func(g *domain.Register) error {
		refused = nil
		r, ok := g.Get(server)
		if !ok {
			refused = fmt.Errorf("forget %s: %w", server, ErrNotRegistered)
			return refused
		}
		if !force && r.Left.IsZero() && r.Queue == r.Server {
			counts, err := reg.Consumers(ctx, []string{r.Queue})
			if err != nil {
				return fmt.Errorf("forget %s: check it is down: %w", server, err)
			}
			if counts[0] > 0 {
				refused = fmt.Errorf("forget %s: %w (host %s, pid %d); stop it first, or force", server, ErrServerUp, r.Host, r.PID)
				return refused
			}
		}
		queue = r.Queue
		g.Forget(server)
		return nil
	})
	if refused != nil {
		return f, refused
	}
	if err != nil {
		return f, err
	}
	if queue != server {
		return f, nil // a shared queue stays for the others
	}
	held, err := reg.DeleteQueue(ctx, queue)
	switch {
	case err == nil:
		f.Held, f.QueueDeleted = held, true
	case errors.Is(err, ports.ErrQueueInUse), errors.Is(err, ports.ErrNoQueue):
	default:
		return f, fmt.Errorf("forget %s: forgotten, but its queue was not deleted: %w", server, err)
	}
	return f, nil
}
