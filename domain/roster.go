package domain

import (
	"cmp"
	"slices"
	"time"
)

// MissedHeartbeats is how many heartbeat intervals a member may stay silent
// before it is dropped.
const MissedHeartbeats = 3

// DefaultHeartbeatInterval stands in for a Presence.Interval of zero (or
// less): a server that does not say how often it beats is expected to beat at
// least this often.
const DefaultHeartbeatInterval = 5 * time.Second

// MaxHeartbeatInterval is the longest Presence.Interval a roster honours: a
// member claiming more is dropped after MissedHeartbeats of this, so that a
// message claiming an interval of years cannot keep a ghost in the roster.
const MaxHeartbeatInterval = 10 * time.Minute

// MaxPresenceSkew is how far ahead of the observer's clock a presence
// message may be dated: one dated later is ignored, so that a goodbye dated
// a day ahead cannot outrank every real heartbeat of its server.
const MaxPresenceSkew = time.Minute

// Member is one live server in a Roster.
type Member struct {
	// Presence is the last hello or heartbeat accepted from the server. Its
	// slices are shared with the Roster, which never modifies them: do not
	// modify them either.
	Presence
	// LastSeen is when that message was observed, on the observer's clock.
	LastSeen time.Time
}

// Expires returns when m is dropped unless heard from again: LastSeen plus
// MissedHeartbeats intervals.
func (m Member) Expires() time.Time { return m.LastSeen.Add(silence(m.Interval)) }

// live reports whether m is still a member at now.
func (m *Member) live(now time.Time) bool { return !now.After(m.Expires()) }

// silence is how long a server beating every interval may stay silent.
func silence(interval time.Duration) time.Duration {
	if interval <= 0 {
		interval = DefaultHeartbeatInterval
	}
	return MissedHeartbeats * min(interval, MaxHeartbeatInterval)
}

// Roster is a client's view of which servers are there, built from the
// presence messages it observes, and of who a target reaches, with the
// broker's own matcher (Index).
//
// Time is passed in: LastSeen and liveness use the observer's clock (now),
// while Presence.Sent, the sender's clock, only orders the messages of one
// server name (see Observe).
//
// A Roster is not safe for concurrent use: callers serialise every call,
// including the read-only ones.
type Roster struct {
	members map[string]*Member
	gone    map[string]tombstone // servers that said goodbye, by name
	index   *Index[string]       // member names by binding
}

// tombstone remembers a goodbye so that messages sent before it, arriving
// late, do not bring the server back.
type tombstone struct {
	sent  time.Time // the goodbye's Sent
	until time.Time // forgotten after this (observer's clock)
}

// NewRoster returns an empty Roster.
func NewRoster() *Roster {
	return &Roster{
		members: make(map[string]*Member),
		gone:    make(map[string]tombstone),
		index:   NewIndex[string](),
	}
}

// Len returns the number of members held, including silent ones not yet
// removed by Expire.
func (r *Roster) Len() int { return len(r.members) }

// Observe applies one presence message observed at now and reports whether
// the members or their data changed: a server added or removed, or any field
// of its Presence other than Kind and Sent changed, or a member silent for
// too long (left out of Members) heard from again. Merely refreshing a live
// member (LastSeen, Sent) is not a change.
//
//   - Hello and heartbeat add the server, or refresh it. A heartbeat from an
//     unknown server adds it too: a watcher that starts late learns of the
//     servers already running at their next heartbeat.
//   - Goodbye removes the server.
//   - Query, and messages without a server name, are ignored.
//
// Messages of one server name are ordered by Sent: a message sent before the
// latest accepted one from that name is ignored, so that a heartbeat sent
// just before a goodbye but arriving after it cannot bring the server back,
// and a goodbye from an old instance arriving after its replacement's hello
// cannot remove the replacement. At equal Sent a goodbye wins. A goodbye is
// remembered until Expire finds it older than MissedHeartbeats of its
// Interval; a hello sent after it (a restart) adds the server again. Instances of one name must therefore
// have clocks that agree to well within an interval. A message with a zero
// Sent is not ordered: it is always applied.
//
// Messages that could not come from a real server are ignored: a name that
// breaks the naming rules, one dated more than MaxPresenceSkew ahead of now,
// more than MaxRegListItems bindings, work groups or commands.
func (r *Roster) Observe(p Presence, now time.Time) bool {
	if ValidateServerName(p.Server) != nil || p.Sent.After(now.Add(MaxPresenceSkew)) ||
		max(len(p.Bindings), len(p.WorkGroups), len(p.Commands)) > MaxRegListItems {
		return false
	}
	switch p.Kind {
	case PresenceHello, PresenceHeartbeat:
		return r.arrive(p, now)
	case PresenceGoodbye:
		return r.leave(p, now)
	}
	return false
}

func (r *Roster) arrive(p Presence, now time.Time) bool {
	m := r.members[p.Server]
	if !p.Sent.IsZero() {
		if g, ok := r.gone[p.Server]; ok && !p.Sent.After(g.sent) {
			return false // sent before the goodbye, or at once with it
		}
		if m != nil && p.Sent.Before(m.Sent) {
			return false // overtaken by a newer message
		}
	}
	delete(r.gone, p.Server)
	p = clonePresence(p)
	if m == nil {
		r.members[p.Server] = &Member{Presence: p, LastSeen: now}
		r.bind(p.Server, p.Bindings)
		return true
	}
	changed := !m.live(now) || !samePresence(m.Presence, p) // a silent member coming back is a change
	if !slices.Equal(m.Bindings, p.Bindings) {
		r.unbind(p.Server, m.Bindings)
		r.bind(p.Server, p.Bindings)
	}
	if !p.Sent.IsZero() || m.Sent.IsZero() {
		m.Presence = p
	} else {
		// An unordered message refreshes the data but keeps the newest Sent
		// seen, the reference for later ones.
		sent := m.Sent
		m.Presence, m.Sent = p, sent
	}
	m.LastSeen = now
	return changed
}

func (r *Roster) leave(p Presence, now time.Time) bool {
	m := r.members[p.Server]
	if !p.Sent.IsZero() {
		if m != nil && p.Sent.Before(m.Sent) {
			return false // an older instance's goodbye
		}
		if g, ok := r.gone[p.Server]; !ok || p.Sent.After(g.sent) {
			r.gone[p.Server] = tombstone{sent: p.Sent, until: now.Add(silence(p.Interval))}
		}
	}
	if m == nil {
		return false
	}
	r.remove(m)
	return true
}

func (r *Roster) remove(m *Member) {
	r.unbind(m.Server, m.Bindings)
	delete(r.members, m.Server)
}

func (r *Roster) bind(name string, bindings []string) {
	for _, b := range bindings {
		r.index.Add(b, name)
	}
}

func (r *Roster) unbind(name string, bindings []string) {
	for _, b := range bindings {
		r.index.Remove(b, name)
	}
}

// Expire removes the members not heard from for more than MissedHeartbeats
// of their Interval (DefaultHeartbeatInterval when their Interval is zero),
// and returns their names, sorted, or nil. It also forgets goodbyes older
// than that. A server removed here that is heard from again is added again.
func (r *Roster) Expire(now time.Time) []string {
	var gone []string
	for name, m := range r.members {
		if !m.live(now) {
			r.remove(m)
			gone = append(gone, name)
		}
	}
	for name, g := range r.gone {
		if now.After(g.until) {
			delete(r.gone, name)
		}
	}
	slices.Sort(gone)
	return gone
}

// Members returns the live members at now, sorted by name; silent members
// that Expire would remove are left out. It does not modify r.
func (r *Roster) Members(now time.Time) []Member {
	out := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		if m.live(now) {
			out = append(out, *m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Server, b.Server) })
	return out
}

// Reach returns the names of the live members at now whose Bindings match
// the routing key target under RabbitMQ's topic rules (see Match), sorted:
// the servers a plain call to target reaches. Members that share a queue
// (Presence.Queue) are all named, though each request goes to one of them.
func (r *Roster) Reach(target string, now time.Time) []string {
	names := r.index.Match(target, nil)
	names = slices.DeleteFunc(names, func(name string) bool {
		m := r.members[name]
		return m == nil || !m.live(now)
	})
	slices.Sort(names)
	return names
}

// WorkersOf returns the names of the live members at now that work for the
// load-balanced group (Presence.WorkGroups), sorted.
func (r *Roster) WorkersOf(group string, now time.Time) []string {
	var names []string
	for name, m := range r.members {
		if m.live(now) && slices.Contains(m.WorkGroups, group) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// clonePresence copies p's slices, so that the Roster owns what it keeps.
func clonePresence(p Presence) Presence {
	p.Bindings = slices.Clone(p.Bindings)
	p.WorkGroups = slices.Clone(p.WorkGroups)
	p.Commands = slices.Clone(p.Commands)
	return p
}

// samePresence compares everything but Kind and Sent.
func samePresence(a, b Presence) bool {
	return a.Server == b.Server && a.Queue == b.Queue && a.Version == b.Version &&
		a.Host == b.Host && a.PID == b.PID && a.Started.Equal(b.Started) && a.Interval == b.Interval &&
		slices.Equal(a.Bindings, b.Bindings) && slices.Equal(a.WorkGroups, b.WorkGroups) &&
		slices.Equal(a.Commands, b.Commands)
}
