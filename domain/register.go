package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Registration is what the fleet register remembers of one server: it is
// kept from the server's first start until it is forgotten (topicrpc forget),
// whether the server runs, stopped or vanished.
type Registration struct {
	Server     string    `json:"server"`
	Queue      string    `json:"queue"`
	Bindings   []string  `json:"bindings"`
	WorkGroups []string  `json:"work_groups,omitempty"`
	Commands   []string  `json:"commands,omitempty"`
	Version    string    `json:"version,omitempty"`
	Host       string    `json:"host,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Joined     time.Time `json:"joined"`  // its first start
	Started    time.Time `json:"started"` // its latest start
	// Seen is when it last recorded itself as up: its latest start, or a
	// later refresh.
	Seen time.Time `json:"seen"`
	// Left is when it last said goodbye; zero while it runs, and when it
	// vanished without one.
	Left time.Time `json:"left,omitzero"`
	// Signature is HMAC-SHA256 over RegistrationPayload by the fleet key
	// (raw bytes as a string), set by a keyed server each time it writes
	// its entry; empty otherwise. Never log it.
	Signature string `json:"-"`
}

// LastSeen is when the server was last known up: when it said goodbye, or
// when it last recorded itself as up.
func (r Registration) LastSeen() time.Time {
	if r.Left.After(r.Seen) {
		return r.Left
	}
	return r.Seen
}

// Limits on what one register holds, so that no publisher can make a
// client's memory grow with what it sends.
const (
	MaxRegistered   = 100_000 // servers in one register
	MaxRegListItems = 256     // bindings, work groups or commands of one server
	MaxRegText      = 255     // bytes of a version or host
	// MaxRegSkew is how far in the future a registration's times may be,
	// by the reader's clock, before it is refused as forged or broken.
	MaxRegSkew = 24 * time.Hour
)

// MinRegTime is the earliest time a registration may carry: anything older
// is a broken clock or a forgery.
var MinRegTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrBadRegistration is wrapped by every error of Registration.Validate.
var ErrBadRegistration = errors.New("bad registration")

// Validate reports why r cannot be a registration read at now: names against
// the naming rules, bounded lists and texts, times neither zero, nor out of
// order, nor more than MaxRegSkew ahead of now.
func (r Registration) Validate(now time.Time) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: server %.64q: %s", ErrBadRegistration, r.Server, fmt.Sprintf(format, a...))
	}
	if err := ValidateServerName(r.Server); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRegistration, err)
	}
	if err := ValidateQueueName("", r.Queue); err != nil {
		return bad("%v", err)
	}
	if n := max(len(r.Bindings), len(r.WorkGroups), len(r.Commands)); n > MaxRegListItems {
		return bad("%d bindings, work groups or commands, at most %d", n, MaxRegListItems)
	}
	for _, b := range r.Bindings {
		if err := ValidateBinding(b); err != nil {
			return bad("%v", err)
		}
	}
	for _, g := range r.WorkGroups {
		if err := ValidateGroup(g); err != nil {
			return bad("%v", err)
		}
	}
	for _, c := range r.Commands {
		if err := ValidateCommandName(c); err != nil {
			return bad("%v", err)
		}
	}
	if len(r.Version) > MaxRegText || len(r.Host) > MaxRegText {
		return bad("version or host over %d bytes", MaxRegText)
	}
	switch latest := now.Add(MaxRegSkew); {
	case r.Joined.IsZero() || r.Started.IsZero() || r.Seen.IsZero():
		return bad("missing joined, started or seen time")
	case r.Joined.Before(MinRegTime):
		return bad("dated %v, before %v", r.Joined, MinRegTime)
	case r.Started.Before(r.Joined) || r.Seen.Before(r.Started):
		return bad("times out of order (joined %v, started %v, seen %v)", r.Joined, r.Started, r.Seen)
	case r.Seen.After(latest) || r.Left.After(latest):
		return bad("dated %v, more than %v ahead of this clock", r.LastSeen(), MaxRegSkew)
	}
	return nil
}

// RegisterPrecision is the precision of a register's times: they are kept,
// and compared, to the millisecond, as they travel.
const RegisterPrecision = time.Millisecond

func regTime(t time.Time) time.Time { return t.Truncate(RegisterPrecision) }

// Register is the fleet register: every server that joined and was not
// forgotten, one registration each, sorted by name. The zero value is an
// empty register. It is not safe for concurrent use; transports keep one
// behind a lock (see ports.Register).
type Register struct {
	servers []Registration
}

// NewRegister returns a register of regs, which it keeps (sorted by name,
// the last of any name kept). Use it to rebuild a register that was read
// and validated.
func NewRegister(regs []Registration) *Register {
	byName := func(a, b Registration) int { return strings.Compare(a.Server, b.Server) }
	if slices.IsSortedFunc(regs, func(a, b Registration) int { // strictly: no repeats either
		if c := byName(a, b); c != 0 {
			return c
		}
		return -1
	}) {
		return &Register{servers: regs} // as a register is written
	}
	slices.SortStableFunc(regs, byName)
	// The last of a run of equal names wins: compact keeps the first.
	slices.Reverse(regs)
	regs = slices.CompactFunc(regs, func(a, b Registration) bool { return a.Server == b.Server })
	slices.Reverse(regs)
	return &Register{servers: regs}
}

func (g *Register) find(name string) (int, bool) {
	return slices.BinarySearchFunc(g.servers, name, func(r Registration, n string) int { return strings.Compare(r.Server, n) })
}

// Join records r as its server's registration, at r.Started: a new server
// joins (r.Joined is set to r.Started); a known one keeps its Joined time,
// and its Left is cleared. It fails when the register is full.
func (g *Register) Join(r Registration) error {
	r.Started = regTime(r.Started)
	r.Left, r.Seen = time.Time{}, r.Started
	i, ok := g.find(r.Server)
	if ok {
		r.Joined = g.servers[i].Joined
		g.servers[i] = r
		return nil
	}
	if len(g.servers) >= MaxRegistered {
		return fmt.Errorf("%w: the register holds %d servers already, its limit; forget some first",
			ErrBadRegistration, len(g.servers))
	}
	r.Joined = r.Started
	g.servers = slices.Insert(g.servers, i, r)
	return nil
}

// Refresh records that server (started at started) was up at at. It is
// ignored for a server not registered, or registered for another run.
func (g *Register) Refresh(server string, started, at time.Time) {
	if i, ok := g.find(server); ok && g.servers[i].Started.Equal(regTime(started)) && at.After(g.servers[i].Seen) {
		g.servers[i].Seen = regTime(at)
	}
}

// Leave records that server (started at started) said goodbye at at. It is
// ignored for a server not registered, or registered for another run: a
// goodbye never hides a later start.
func (g *Register) Leave(server string, started, at time.Time) {
	if i, ok := g.find(server); ok && g.servers[i].Started.Equal(regTime(started)) {
		g.servers[i].Left = regTime(at)
	}
}

// Update applies fn to server's registration and reports whether it is
// registered. fn must not change its Server.
func (g *Register) Update(server string, fn func(*Registration)) bool {
	i, ok := g.find(server)
	if ok {
		fn(&g.servers[i])
	}
	return ok
}

// Forget removes server and reports whether it was registered.
func (g *Register) Forget(server string) bool {
	i, ok := g.find(server)
	if ok {
		g.servers = slices.Delete(g.servers, i, i+1)
	}
	return ok
}

// Get returns server's registration.
func (g *Register) Get(server string) (Registration, bool) {
	if i, ok := g.find(server); ok {
		return g.servers[i], true
	}
	return Registration{}, false
}

// All returns every registration, sorted by server name. The slice is the
// register's: do not modify it.
func (g *Register) All() []Registration { return g.servers }

// Len returns the number of registered servers.
func (g *Register) Len() int { return len(g.servers) }

// Reach returns the registrations whose bindings match routing key target,
// by RabbitMQ's topic rules, sorted by server name.
func (g *Register) Reach(target string) []Registration {
	var out []Registration
	for _, r := range g.servers {
		for _, b := range r.Bindings {
			if Match(b, target) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}
