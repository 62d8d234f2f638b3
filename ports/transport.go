package ports

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// Transport carries requests from clients to every server whose bindings match
// the request's routing key, and carries replies back to the caller, matched by
// correlation id. It has RabbitMQ's topic-exchange semantics: see domain.Match.
//
// All methods are safe for concurrent use by many goroutines.
type Transport interface {
	// Send publishes req to the routing key req.Target (or, when req.Balanced,
	// to the work queue of the group req.Target). Every reply carrying
	// req.ID is handed to sink until Forget(req.ID) is called; sink is
	// registered before the request is published, so no reply is missed.
	//
	// Send returns an error wrapping ErrNoRoute when no queue is bound to a
	// matching pattern, or no work queue exists for a balanced request
	// (nothing will answer), and ErrQueueFull (joined with the
	// queue names) when some queues refused it; other errors mean the request
	// may not have been published. On any error the sink stays registered
	// until Forget. Send blocks at most until ctx ends (for example while the
	// broker applies flow control); cancelling ctx after Send returns does not
	// recall the request: its Deadline does.
	Send(ctx context.Context, req *domain.Request, sink ReplySink) error

	// Forget stops delivering replies for callID; later replies are dropped.
	// It is cheap and idempotent.
	Forget(callID string)

	// Serve consumes the queue of ep, bound with ep.Bindings, and calls h for
	// each request, with at most ep.Concurrency calls in flight; further
	// requests wait in the queue, not in memory. A request is settled (removed
	// from the queue for good) when h returns; if the process dies first, the
	// transport redelivers it to another consumer of the queue where it can.
	// Several Serve calls on the same queue are competing consumers: each
	// request goes to exactly one of them.
	//
	// The ctx passed to h ends when the subscription is closed; it carries no
	// deadline: the request's Deadline is h's to apply (see Handler). Serve
	// itself returns once the queue is declared, bound and consumed. An
	// endpoint that fails Endpoint.Validate, or a transport's own limits, is
	// refused with ErrBadEndpoint.
	Serve(ctx context.Context, ep Endpoint, h Handler) (Subscription, error)

	// Routes returns the queues the routing key reaches right now, sorted,
	// or an error wrapping ErrRoutesUnknown when the transport cannot tell.
	// The caller must not modify the returned slice.
	Routes(ctx context.Context, key string) ([]string, error)

	// Announce publishes a presence message to every current watcher that
	// wants it (see WatchPresence): a query to the WatchQueries watchers, a
	// hello, heartbeat or goodbye to the WatchAnnouncements watchers. It
	// returns once the transport has accepted the message (on RabbitMQ: the
	// broker's confirm), not when watchers have it, and blocks at most until
	// ctx ends. Transports do not fill in p.Sent: the roster orders one
	// server's messages by it.
	Announce(ctx context.Context, p domain.Presence) error

	// WatchPresence calls fn with the presence messages that want asks for
	// (see PresenceInterest) announced after it returns, from any process on
	// the transport, its own included. Messages of one announcer arrive in
	// order. fn is called from one goroutine at a time, must not block and
	// must not modify the message's slices (they may be shared). A watcher
	// that falls behind loses its oldest messages first, so it keeps the
	// freshest view. ctx bounds the setup only. The subscription's Close
	// stops the calls and waits for one in progress. An unknown want is an
	// error.
	WatchPresence(ctx context.Context, want PresenceInterest, fn func(domain.Presence)) (Subscription, error)

	// Close releases the transport. In-flight Sends fail with ErrClosed;
	// subscriptions stop.
	Close() error
}

// PresenceInterest says which presence messages a watcher receives
// (WatchPresence). Servers and rosters want different ones, and a server
// that received every other server's heartbeats would make presence cost
// O(N²) deliveries per heartbeat interval for N servers instead of O(N).
type PresenceInterest uint8

const (
	// WatchAnnouncements is what a roster wants: every hello, heartbeat and
	// goodbye. Queries may arrive too (a transport need not filter them out:
	// on RabbitMQ they do); a roster ignores them.
	WatchAnnouncements PresenceInterest = iota
	// WatchQueries is what a server wants, to answer "who is there" with a
	// hello: queries, and never a hello, heartbeat or goodbye, its own or
	// another server's.
	WatchQueries
)

// String returns "announcements" or "queries".
func (i PresenceInterest) String() string {
	switch i {
	case WatchAnnouncements:
		return "announcements"
	case WatchQueries:
		return "queries"
	}
	return "PresenceInterest(" + strconv.Itoa(int(i)) + ")"
}

// Endpoint describes one server's place on the transport.
type Endpoint struct {
	// Name is the server's name. It is also its queue's name unless Queue is set.
	Name string
	// Bindings are the topic patterns the queue is bound with, e.g. "group1.#".
	Bindings []string
	// Queue, when set, names a queue shared by several servers for load-balanced
	// work: each request goes to exactly one of them.
	Queue string
	// Concurrency bounds the requests handled at once (the prefetch count);
	// values below 1 mean 1.
	Concurrency int
	// WorkGroups are the load-balanced groups the server also works for: for
	// each group, a shared work queue, apart from the topic exchange, that
	// receives the group's balanced requests (domain.Request.Balanced). Each
	// such request goes to exactly one consumer of the queue, one at a time
	// per consumer (prefetch 1, fair dispatch); it is settled after the
	// handler returns and redelivered to another consumer if this one dies
	// first (at-least-once). Its ReplyWriter is a Claimer, with which a
	// server makes a call id run once however many copies reach the queue.
	WorkGroups []string
}

// Validate reports, wrapping ErrBadEndpoint, why no transport can serve ep,
// by domain's naming rules: the server name (ValidateServerName), the
// shared queue's name if any (ValidateQueueName), each binding
// (ValidateBinding) and each work group (ValidateGroup, no repeats).
// Transports add their own limits (a name with its prefix, for example).
func (ep Endpoint) Validate() error {
	bad := func(err error) error { return fmt.Errorf("%w: %w", ErrBadEndpoint, err) }
	if err := domain.ValidateServerName(ep.Name); err != nil {
		return bad(err)
	}
	if ep.Queue != "" {
		if err := domain.ValidateQueueName("", ep.Queue); err != nil {
			return bad(err)
		}
	}
	for _, b := range ep.Bindings {
		if err := domain.ValidateBinding(b); err != nil {
			return bad(err)
		}
	}
	for i, g := range ep.WorkGroups {
		if err := domain.ValidateGroup(g); err != nil {
			return bad(err)
		}
		if slices.Contains(ep.WorkGroups[:i], g) {
			return fmt.Errorf("%w: work group %q listed twice", ErrBadEndpoint, g)
		}
	}
	return nil
}

// QueueName returns the queue ep consumes: Queue if set, else Name.
func (ep Endpoint) QueueName() string {
	if ep.Queue != "" {
		return ep.Queue
	}
	return ep.Name
}

// Handler handles one request. It must reply through rw (any number of acks and
// progress replies, then one result) before it returns; the transport settles the
// request when it returns. Handlers run concurrently with each other, up to the
// endpoint's Concurrency.
//
// The transport delivers each request as decoded and applies no policy: the
// request may be past its Deadline (a caller whose clock runs behind), the
// ctx does not end at the deadline, and a panic is not recovered — it ends
// the process, as in any goroutine. app.Server's handler does all of that
// (see the package doc); write a Handler of your own only to replace it.
type Handler func(ctx context.Context, req *domain.Request, rw ReplyWriter)

// ReplyWriter sends replies to the caller of one request.
type ReplyWriter interface {
	// Reply sends r to the caller; the transport fills in r.CallID. It blocks at
	// most until ctx ends. An error means the reply was not sent.
	Reply(ctx context.Context, r domain.Reply) error
}

// Claimer is implemented by the ReplyWriter of a request taken from a work
// queue (Endpoint.WorkGroups): it makes one delivery of a call id the one
// that runs, fleet-wide, so that a balanced request re-published to the
// work queue (the same call id again) runs once, not once per member.
type Claimer interface {
	// Claim returns nil when this delivery now holds its call id's claim
	// (or already did), and an error wrapping ErrClaimed when another
	// delivery of the same call id holds it or held it: once taken, a claim
	// holds until until, even after the handler returns. A claim is tied to
	// its delivery: it is released when the delivery goes back to the queue
	// (its subscription closed mid-job, or its connection broke), so the
	// consumer that runs it again can claim it (at least once). Any other
	// error means the claim could not be decided. It blocks at most until
	// ctx ends. Safe for concurrent use.
	Claim(ctx context.Context, until time.Time) error
}

// ReplySink receives the replies of one call.
type ReplySink interface {
	// Deliver hands over one reply. It must not block: transports call it from
	// their delivery loops, and a slow sink would stall every call.
	Deliver(r domain.Reply)
}

// Subscription is a running Serve or WatchPresence.
type Subscription interface {
	// Close stops taking new requests (or presence messages), waits until
	// handlers in flight return or ctx ends, and then cancels their context.
	// A request whose handler had not returned when ctx ended goes back to its
	// queue for another consumer, and its late replies are refused. It is
	// idempotent.
	Close(ctx context.Context) error
}
