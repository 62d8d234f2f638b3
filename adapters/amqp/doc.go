// Package amqp implements ports.Transport on RabbitMQ with amqp091-go.
//
// # Topology
//
// Everything the adapter declares, with the defaults Exchange "topicrpc" and
// QueuePrefix "topicrpc.":
//
//	object                 kind / flags                                  purpose
//	topicrpc               topic exchange, durable                       requests; routing key = Request.Target
//	topicrpc.<queue>       classic queue, durable, not exclusive,        one per endpoint, <queue> = Endpoint.QueueName():
//	                       not auto-delete, no arguments                 the server's name, or the shared queue's name
//	  binding              topicrpc -> topicrpc.<queue>, one per         e.g. "q1.#", "group1.#", "all.#"
//	                       pattern in Endpoint.Bindings
//	amq.rabbitmq.reply-to  direct reply-to pseudo-queue, consumed        replies (ReplyDirect, the default)
//	                       no-ack on the client's publishing channel
//	topicrpc.reply.<rand>  classic queue, exclusive, auto-delete,        replies (ReplyQueue mode only)
//	                       consumed no-ack
//
// A server's queue outlives the server: requests sent while it restarts wait
// for it, and expire (per-message TTL) at their deadline if it does not come
// back in time. Several servers serving the same queue (Endpoint.Queue) are
// competing consumers: each request goes to one of them.
//
// # Messages
//
// A request is published to the exchange with routing key Request.Target, the
// mandatory flag (unroutable requests come back: ports.ErrNoRoute), in
// confirm mode, and transient (delivery mode 1: requests do not survive a
// broker restart; their deadlines are short anyway):
//
//	correlation-id     Request.ID
//	reply-to           amq.rabbitmq.reply-to (the broker rewrites it) or the reply queue
//	type               Command.Name
//	timestamp          Request.Sent (whole seconds)
//	expiration         ms until Request.Deadline, rounded up, at least 1; absent without deadline
//	content-type       text/plain; charset=utf-8
//	topicrpc-target    header: Request.Target (string)
//	topicrpc-sent      header: Request.Sent, unix ms (int64)
//	topicrpc-deadline  header: Request.Deadline, unix ms (int64); absent without deadline
//	body               Command.Args
//
// A reply is published to the default exchange with the request's reply-to
// as routing key, on the server's subscription channel, before the request
// is acknowledged on that channel:
//
//	correlation-id     Reply.CallID (= Request.ID)
//	app-id             Reply.Server
//	type               "result", "ack" or "progress" (Reply.Kind)
//	topicrpc-elapsed   header: Reply.Elapsed in ns (int64); absent when zero
//	topicrpc-error     header: Reply.Error; error replies only (cut at 16 KiB)
//	topicrpc-code      header: Reply.Code; error replies only
//	body               Reply.Result
//
// # Channels
//
// One connection per Transport. One publishing channel in confirm mode,
// which also consumes direct reply-to; one channel per Serve, with prefetch
// = concurrency, consuming its queue, publishing replies and acknowledging;
// a short-lived channel to declare the exchange; in ReplyQueue mode one more
// channel consuming the reply queue. Setup of each lives in a function that a
// reconnecting supervisor can run again on a new connection
// (Transport.setup, subscription.setup).
//
// # Replies: direct reply-to
//
// Both reply modes are implemented (Config.ReplyMode) and measured by
// BenchmarkRoundTrip, BenchmarkRoundTripInFlight and BenchmarkNew, on a
// loaded 2-core machine with RabbitMQ 3.10 (server, client and broker on the
// same host). Direct reply-to was as fast or faster in every run: one call at
// a time 0.32-0.35 ms against 0.36-0.48 ms, and 80-116 µs against
// 84-146 µs per call with 16-64 calls in flight. New followed by Close takes
// 3-5 ms with direct reply-to and 6-6.5 ms with a reply queue, which is
// declared and deleted for every client. Direct reply-to is the default: it
// leaves nothing on the broker, costs short-lived clients (one CLI call) the
// least, and has no queue where replies nobody reads could pile up. Its one
// constraint, that requests be published on the channel consuming the
// replies, suits the single publishing channel; a pool of two publishing
// channels showed no gain, the broker and the two cores being the limit.
//
// # Deadlines
//
// A request cannot run after its deadline: the broker drops it from every
// queue when its per-message TTL runs out (at the head of the queue), and a
// server that takes it late anyway answers domain.CodeExpired without running
// it. The handler's context ends at the deadline. Deadlines are absolute, so
// servers need clocks within a few milliseconds of the client's.
package amqp
