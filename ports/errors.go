package ports

import "errors"

// Errors every Transport returns for the same conditions. Check them with errors.Is;
// adapters wrap them with what was being attempted.
var (
	// ErrNoRoute: the routing key reached no queue. No server will run the request.
	ErrNoRoute = errors.New("no server matched")
	// ErrRoutesUnknown: the transport cannot say which queues a key reaches.
	ErrRoutesUnknown = errors.New("routes unknown to this transport")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("transport closed")
	// ErrQueueFull: a queue was at its length limit and refused the request
	// (RabbitMQ's reject-publish overflow). The other queues still got it.
	ErrQueueFull = errors.New("queue full")
	// ErrBadEndpoint: Serve was given an endpoint it cannot serve.
	ErrBadEndpoint = errors.New("bad endpoint")
	// ErrUnavailable: the transport lost its connection (to the broker) and
	// could not restore it in time; it keeps trying until closed. The request
	// may or may not have been sent when a Send in flight fails with it.
	ErrUnavailable = errors.New("transport unavailable")
	// ErrClaimed: another delivery of the same call id holds, or held, its
	// claim (Claimer): this one must not run.
	ErrClaimed = errors.New("call already claimed by another delivery")
)
