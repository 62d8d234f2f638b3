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
//	topicrpc.presence      fanout exchange, durable, not auto-delete     hellos, heartbeats, goodbyes, for rosters;
//	                                                                     declared on first Announce or WatchPresence
//	topicrpc.presence.     fanout exchange, durable, not auto-delete     queries, for servers; declared with
//	  query                                                              topicrpc.presence
//	  binding              topicrpc.presence.query -> topicrpc.presence  exchange to exchange, no routing key: every
//	                                                                     query reaches topicrpc.presence too
//	topicrpc.presence.     classic queue, exclusive, auto-delete,        one per WatchPresence (the broker names
//	  <rand>               max-length 256, overflow drop-head,           it when the prefix is too long)
//	                       consumed with acks, prefetch 64
//	  binding              topicrpc.presence.query -> the queue of a     no routing key (fanout)
//	                       server's watcher (ports.WatchQueries);
//	                       topicrpc.presence -> the queue of a
//	                       roster's (ports.WatchAnnouncements)
//	topicrpc.work          direct exchange, durable                      balanced requests; routing key = group
//	topicrpc.work.<group>  classic queue, durable, not exclusive,        one per work group (Endpoint.WorkGroups),
//	                       not auto-delete, no arguments                 consumed with prefetch 1 by its servers
//	  binding              topicrpc.work -> topicrpc.work.<group>,       routing key = <group>
//	                       one per group
//
// On a cluster (QueuesReplicated: Config.QueueTypes, the default with more
// than one broker URL), server queues are transient instead of durable,
// and work queues and the register are quorum queues (x-queue-type
// quorum): see QueueTypes for why. A queue found declared with other
// settings (an earlier version, another QueueTypes) is used as it is, with
// one warning saying how to change it.
//
// # Clusters
//
// Config.URL and URLs may name several nodes of one cluster. The Transport
// connects to one at a time (shuffled once, then round from the node lost;
// Config.OrderedURLs keeps the order given) and, when its connection
// breaks, reconnects to the next that answers: the supervisor's backoff
// applies to whole rounds. Calls in flight when the client's node goes
// down are not sent again: their replies were lost with the connection,
// and the calls end at their deadline naming the servers that did not
// answer (re-sending could run a command twice). Servers on that node
// serve again from another node; their transient queues are declared
// there anew.
//
// A server's queue outlives the server: requests sent while it restarts wait
// for it, and expire (per-message TTL) at their deadline if it does not come
// back in time. Several servers serving the same queue (Endpoint.Queue) are
// competing consumers: each request goes to one of them.
//
// Work queues are the classic work-queue pattern, apart from the topic
// exchange: a balanced request reaches only its group's queue, never a
// server's own queue, and a plain request never reaches a work queue. Every
// server of the group consumes the group's queue with prefetch 1, so
// RabbitMQ hands each request to one consumer with nothing unacknowledged
// (fair dispatch: never behind a busy server), and requeues it for another
// if the server's channel or connection closes before the ack (at least
// once). Work queues outlive their servers like the other queues. Server
// queue names may not start with "work." (they would collide).
//
// # Messages
//
// A request is published to the exchange with routing key Request.Target, the
// mandatory flag (unroutable requests come back: ports.ErrNoRoute), in
// confirm mode, and transient (delivery mode 1: requests do not survive a
// broker restart; their deadlines are short anyway). A balanced request
// (Request.Balanced) goes to the work exchange with routing key
// Request.Target (the group), also mandatory and confirmed, and persistent
// (delivery mode 2: queued work survives a broker restart until its
// deadline); its properties are the same:
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
//	topicrpc-nonce     header: Request.Nonce (string); signed requests only
//	topicrpc-signature header: Request.Signature, standard base64 (string); signed requests only
//	topicrpc-caller    header: Request.Caller (string); absent when empty
//	topicrpc-record    header: Request.Record (bool): store the replies in the results store (jobs.go); absent when false, not signed
//	traceparent        header: Request.Trace.Parent (string, ≤ 128 bytes); traced calls only, not signed
//	tracestate         header: Request.Trace.State (string, ≤ 512 bytes); ignored, like traceparent, when longer or not a string
//	body               Command.Args
//
// A reply is published to the default exchange with the request's reply-to
// as routing key, on the channel that delivered the request (the Serve's),
// before the request is acknowledged on that channel:
//
//	correlation-id     Reply.CallID (= Request.ID)
//	app-id             Reply.Server
//	type               "result", "ack" or "progress" (Reply.Kind)
//	topicrpc-elapsed   header: Reply.Elapsed in ns (int64); absent when zero
//	topicrpc-error     header: Reply.Error; error replies only (cut at 16 KiB)
//	topicrpc-code      header: Reply.Code; error replies only
//	body               Reply.Result
//
// # Jobs
//
// The results store is a stream, QueuePrefix+"jobs.results", fed through
// the fanout exchange Exchange+".jobs", on a connection of its own; each
// message one job record or a batch of them (codec_jobs.go,
// jobs_writer.go). jobs.go says how it is declared, bounded and read.
//
// # Presence
//
// Servers announce themselves (domain.Presence), and rosters ask who is
// there, through two fanout exchanges, so that a server never handles
// another server's heartbeats: N servers cost O(N) deliveries per heartbeat
// interval, not O(N²). Hellos, heartbeats and goodbyes go to
// <Exchange>.presence, to which the rosters' watchers
// (ports.WatchAnnouncements) bind their queues; queries go to
// <Exchange>.presence.query, to which the servers' watchers
// (ports.WatchQueries) bind theirs. The query exchange is bound to the
// presence exchange, so every query reaches the rosters too (they ignore
// it), and the servers of earlier versions, which watch the presence
// exchange for queries: a client of this version finds them at once.
// The other way round, a client of an earlier version publishes its query
// to the presence exchange, which servers of this version do not watch: in
// a fleet being upgraded, its roster fills from their heartbeats only,
// within one heartbeat interval, instead of at once.
//
// Announce publishes on the publishing channel, mandatory off (no watcher
// is not an error), transient, and waits for the broker's confirm; one
// channel's messages reach each queue in order, so every watcher gets each
// announcer's messages in order. Each WatchPresence consumes its own
// exclusive queue, on the channel the Transport's watchers share (see
// Channels), and acknowledges each message after its fn returns: a watcher
// that falls behind holds at most 64 messages in memory, 256 more wait on
// the broker, and the broker drops the oldest beyond that. The exchanges
// and their binding are durable and never deleted automatically: publishing
// to a missing exchange would close the publishing channel.
//
//	content-type       application/json
//	type               the kind: "hello", "heartbeat", "goodbye" or "query"
//	app-id             Presence.Server (when at most 255 bytes)
//	timestamp          Presence.Sent (whole seconds)
//	body               JSON, fields omitted when empty or zero:
//	                   {"kind": "heartbeat", "server": "q1", "queue": "q1",
//	                    "bindings": ["all.#", "q1.#"], "work_groups": ["resize"],
//	                    "commands": ["echo", "fib"], "version": "v1.0.0",
//	                    "host": "web1", "pid": 4242, "started_ms": 1767322800000,
//	                    "sent_ms": 1767326400123, "interval_ms": 5000}
//	                   times in unix ms (0 or absent: the zero time), interval
//	                   in whole ms; unknown fields are ignored, so fields can
//	                   be added; a body that does not decode, or names
//	                   another kind, is skipped (logged at debug level)
//
// # Channels
//
// One connection per Transport. One publishing channel in confirm mode,
// which also consumes direct reply-to. One channel per Serve, shared by its
// consumers: its queue's, with prefetch = concurrency, and each of its work
// queues', with prefetch 1. RabbitMQ applies basic.qos with global=false to
// each consumer, not to the channel ("Consumer Prefetch" in its
// documentation), so a basic.qos precedes each basic.consume and every
// consumer keeps its own count. A request is acknowledged, and its replies
// published before the ack, on the channel that delivered it. One more
// channel shared by every WatchPresence of the Transport. That is about one
// channel per server: with RabbitMQ's default channel_max of 2,047, about
// 2,000 servers per connection (a channel per consumer, four per app.Server
// by default, allowed 511). Short-lived channels declare the exchange on
// connecting, the presence exchanges on first use, and the work exchange on
// the first balanced Send; in ReplyQueue mode one more channel consumes the
// reply queue. All of them are set up again on every new connection (see
// Reconnection).
//
// Consumers sharing a channel share its failures. When the broker closes the
// channel (after a failed declaration, say), every consumer on it stops and
// starts again on a new channel. When it cancels one consumer (its queue was
// deleted), only that one starts again: it declares its queue over a
// short-lived channel, so that a failure there closes only that one, and
// consumes again on the shared channel, the others serving meanwhile. A
// consumer that stops (Subscription.Close) cancels its own tag (basic.cancel)
// and leaves the channel to the others; the last to stop closes it.
// Synchronous methods on a shared channel (declarations, basic.qos,
// basic.consume, basic.cancel) go one at a time and never between the frames
// of a reply being published.
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
// queue when its per-message TTL runs out (at the head of the queue). One
// delivered late anyway (the TTL's 1 ms minimum, a client whose clock runs
// behind, a publisher that set no expiration) reaches the handler with its
// deadline decoded; app.Server's pipeline answers it domain.CodeExpired
// without running it, and ends the handler's context at the deadline: this
// adapter applies neither (see ports.Handler). Deadlines are absolute, so
// servers need clocks within a few milliseconds of the client's.
//
// # Poison messages
//
// Anyone who may publish to the exchange can put anything on a server's
// queue. A delivery that is not a valid request (no correlation id or
// reply-to, a malformed command or args, a header of the wrong type, a
// body over Config.MaxBody) is logged in one line, answered with
// domain.CodeBadRequest when it can be, and rejected without requeueing,
// so it can neither loop nor reach a handler. A reply-to starting with
// amq.rabbitmq.reply-to. must be shaped as RabbitMQ writes it (see
// replyable): RabbitMQ 3.10 decodes it when the reply is published, and a
// malformed one crashes the replying channel and closes the connection
// (541 INTERNAL_ERROR), requeueing every request in flight, the poison
// included; such a request is rejected unanswered. One well-formed address
// naming a node the broker does not know still crashes RabbitMQ 3.10; newer
// brokers drop the reply.
//
// # Reconnection
//
// A Transport outlives its connections. When one breaks (a broker restart,
// a node killed, a network cut, an operator closing it), a supervisor
// goroutine redials with exponential backoff and jitter: about 100 ms, then
// doubling to at most 10 s, each wait spread by ±20%, with no limit on the
// attempts: only Close stops it, also in the middle of a wait. On each new
// connection the Transport declares the request exchange and opens its
// publisher and reply consumer (a new reply queue in ReplyQueue mode); the
// work and presence exchanges are declared again on first use. Every Serve
// subscription then declares, binds and consumes its queue and work queues
// again, on a new channel of the Serve's, and every WatchPresence consumes
// a new exclusive queue, on a new channel the watchers share, each on its
// own, retrying with the same backoff while that fails on a live
// connection. Everything the adapter declares is declared again, so a node
// that came back empty works as before.
//
// This is the adapter's own supervisor, not amqp091-go's Config.Recovery
// (v1.12.0 and later): that recovery reopens channels in place, so an ack
// for a delivery taken before the loss would go out on the recovered channel
// with a stale delivery tag, settling another request or closing the
// channel; it retries at a fixed interval a bounded number of times, then
// gives up; and it logs through a package-global logger.
//
// Sends waiting for a confirm when the connection breaks fail at once with
// ErrConnectionLost (so ports.ErrUnavailable); Sends made while the
// Transport reconnects wait for it until their ctx or their request's
// deadline ends. Replies in flight are lost, and registered sinks are not
// told: their calls end at their deadline, naming the servers silent.
// Handlers in flight have their context cancelled and their replies
// refused; their requests, never acknowledged, go back to the queue. See
// Transport for the log lines.
package amqp
