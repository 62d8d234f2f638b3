package domain

import "time"

// PresenceKind says what a presence message announces.
type PresenceKind uint8

const (
	// PresenceHello: a server started, or answers a query.
	PresenceHello PresenceKind = iota
	// PresenceHeartbeat: a server is still there.
	PresenceHeartbeat
	// PresenceGoodbye: a server is stopping.
	PresenceGoodbye
	// PresenceQuery: someone asks every server to say hello now.
	PresenceQuery
)

var presenceNames = [...]string{"hello", "heartbeat", "goodbye", "query"}

// String returns the stable lower-case name used on the wire and in JSON.
func (k PresenceKind) String() string {
	if int(k) < len(presenceNames) {
		return presenceNames[k]
	}
	return "unknown"
}

// Presence is what a server says about itself so that clients can tell who
// is there and who a target should reach, with the broker's own matcher.
type Presence struct {
	Kind PresenceKind
	// Server is the server's name; empty on queries.
	Server string
	// Queue is the queue the server consumes (its name unless shared).
	Queue string
	// Bindings are the patterns its queue is bound with.
	Bindings []string
	// WorkGroups are the load-balanced groups it works for.
	WorkGroups []string
	// Commands are the commands it has handlers for, sorted.
	Commands []string
	// Version is the server's topicrpc version.
	Version string
	// Host is the machine it runs on; PID its process id.
	Host string
	PID  int
	// Started is when the server started; Sent when this message was sent.
	Started, Sent time.Time
	// Interval is the time between the server's heartbeats: a server not
	// heard from for a few intervals is gone.
	Interval time.Duration
	// Signature is HMAC-SHA256 over PresencePayload by the fleet key (raw
	// bytes as a string), set by SignPresence on a keyed server's messages;
	// empty otherwise. Never log it.
	Signature string
}
