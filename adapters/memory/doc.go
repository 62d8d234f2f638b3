// Package memory is an in-process topic exchange with RabbitMQ's semantics: a
// real ports.Transport for one process, used by the demo, by embedded fleets and
// by fast tests.
//
// Semantics, matching the AMQP adapter (the conformance suite in test/conformance
// holds both to them):
//   - Requests are routed by domain.Index, RabbitMQ's topic rules: a queue bound
//     with several matching patterns receives one copy.
//   - Each queue is a FIFO. Several consumers of one queue compete: each request
//     goes to one of them, to the one that has waited longest when several are
//     idle (round-robin, as RabbitMQ does for consumers with free prefetch).
//   - A queue outlives its consumers, like a durable RabbitMQ queue: requests sent
//     while nobody consumes wait in it, and those past their deadline when a
//     consumer reaches them are dropped unseen, as RabbitMQ drops expired
//     messages.
//   - Replies are routed to the caller's sink by correlation id.
//
// Work queues (load-balanced groups): a server with ports.Endpoint.WorkGroups
// also consumes, for each group, the group's work queue, with prefetch 1. A
// balanced request (domain.Request.Balanced) goes to the work queue named by
// its Target, never through the topic index, so exactly one consumer of the
// group runs it; Send fails with ports.ErrNoRoute when no server ever
// declared that group. Work queues are kept by name apart from the server
// queues (a group may share a server's name), are not reported by Routes,
// and behave like the other queues: FIFO, round-robin to consumers with
// credit (so an idle consumer gets the next request, never one behind a busy
// consumer), bounded, expiring, and kept when their consumers leave. When a
// subscription's Close gives up on a handler still running a work-queue
// request, the request goes back to the head of its queue and on to another
// consumer (as RabbitMQ requeues a closed channel's unacknowledged messages),
// and that handler's later replies are refused: delivery is at least once.
//
// Backpressure: a queue holds at most Config.QueueLength requests. A request
// routed to a full queue is refused by that queue (RabbitMQ's reject-publish
// overflow) and Send reports ports.ErrQueueFull naming it; other queues still
// get it, so one stuck server cannot stall calls to the rest of the fleet, and
// memory stays bounded. Replies never block: sinks must not block (see
// ports.ReplySink).
package memory
