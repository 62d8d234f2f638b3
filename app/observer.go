package app

import "github.com/topicrpc/topicrpc/domain"

// ServerObserver hears what a server sends besides its results: the
// acknowledgements and progress replies of long requests, its presence
// messages and its writes to the fleet register. Results are seen by a
// Middleware (every request's outcome and duration); this is for the rest, so
// that metrics need not wrap the transport. Its methods are called from the
// server's own goroutines (request timers, the announcer, the registrar), at
// any time between Start and the end of Stop, and concurrently: they must be
// safe for concurrent use and return quickly. They are told, not asked: what
// they return changes nothing.
type ServerObserver interface {
	// ReplySent reports an ack (domain.KindAck) or progress reply
	// (domain.KindProgress) sent, or not (err).
	ReplySent(kind domain.ReplyKind, err error)
	// PresenceSent reports a hello, heartbeat or goodbye announced, or not (err).
	PresenceSent(kind domain.PresenceKind, err error)
	// RegisterWritten reports the server's entry in the fleet register
	// recorded, refreshed or marked gone, or not (err).
	RegisterWritten(err error)
}

// noObserver is the ServerObserver of a server configured without one.
type noObserver struct{}

func (noObserver) ReplySent(domain.ReplyKind, error)       {}
func (noObserver) PresenceSent(domain.PresenceKind, error) {}
func (noObserver) RegisterWritten(error)                   {}
