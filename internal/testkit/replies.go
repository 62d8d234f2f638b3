package testkit

import "github.com/topicrpc/topicrpc/domain"

// Replies is an Inbox of replies that a transport delivers to (a
// ports.ReplySink).
type Replies struct {
	*Inbox[domain.Reply]
}

// NewReplies returns a Replies holding up to size replies.
func NewReplies(size int) Replies { return Replies{NewInbox[domain.Reply](size, "replies")} }

// Deliver puts r; it never blocks, and panics when the Inbox is full.
func (r Replies) Deliver(reply domain.Reply) { r.Put(reply) }
