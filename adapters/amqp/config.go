package amqp

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/ports"
)

// Defaults applied by New to the zero fields of Config.
const (
	DefaultExchange       = "topicrpc"
	DefaultQueuePrefix    = "topicrpc."
	DefaultPrefetch       = 1
	DefaultDialTimeout    = 5 * time.Second
	DefaultHeartbeat      = 10 * time.Second
	DefaultConnectionName = "topicrpc"
	// DefaultMaxBody bounds request bodies: twice the client's default
	// limit on args (app.DefaultMaxArgs), so that the server's own, more
	// precise limit answers first.
	DefaultMaxBody = 2 << 20
)

// ReplyMode selects how replies travel back to the caller.
type ReplyMode int

const (
	// ReplyDirect receives replies through RabbitMQ's direct reply-to
	// pseudo-queue (amq.rabbitmq.reply-to), consumed on the publishing
	// channel. No queue is declared, so a short-lived client (one CLI call)
	// leaves nothing behind on the broker. The default.
	ReplyDirect ReplyMode = iota
	// ReplyQueue declares one exclusive, auto-delete reply queue per
	// Transport and consumes it on a channel of its own. The broker deletes
	// the queue when the connection closes.
	ReplyQueue
)

func (m ReplyMode) String() string {
	switch m {
	case ReplyDirect:
		return "direct"
	case ReplyQueue:
		return "queue"
	}
	return fmt.Sprintf("ReplyMode(%d)", int(m))
}

// Config configures a Transport. Only URL (or URLs) is required; New fills
// in the defaults above for zero fields.
type Config struct {
	// URL is the broker's AMQP URI: amqp://user:password@host:5672/vhost, or
	// amqps://... for TLS. A user name or password holding reserved characters
	// (@ : / ? #) must be percent-encoded. The password never appears in errors
	// or logs (see RedactURL). For a cluster, URL may list the nodes' URIs
	// separated by commas (see SplitURLs), as URLs does.
	URL string

	// URLs are more brokers: the nodes of a RabbitMQ cluster, all with the
	// same exchanges, queues and accounts. The Transport connects to one of
	// URL's and URLs' brokers at a time and, when that connection breaks,
	// fails over to the next one that answers (see OrderedURLs for which
	// first). TLS, Heartbeat and DialTimeout apply to each; DialTimeout
	// bounds each attempt, not the whole round.
	URLs []string

	// OrderedURLs tries the brokers in the order given, from the first, on
	// every connect and reconnect: a preferred node with standbys. By
	// default (false) the Transport shuffles them once, when created, and
	// goes round that order, starting after the node it lost: a fleet given
	// the same list spreads over the nodes, and the connections of a node
	// that goes down spread over the others instead of all moving to the
	// next one in the list.
	OrderedURLs bool

	// QueueTypes selects the queue types declared: for one broker, or ones
	// that survive the loss of a cluster node (see QueueTypes). QueuesAuto,
	// the default, takes the latter with more than one broker URL. Give
	// every program of a fleet the same.
	QueueTypes QueueTypes

	// Exchange is the durable topic exchange requests are published to.
	Exchange string

	// QueuePrefix is put in front of every queue this transport declares,
	// so that topicrpc's queues are easy to tell apart on a shared broker.
	QueuePrefix string

	// Prefetch is the prefetch count, and so the number of handlers run at
	// once, for endpoints whose Concurrency is below 1. It defaults to 1, as
	// ports.Endpoint documents: a handler that never asked for concurrency is
	// never run concurrently with itself, and requests not yet started stay in
	// the queue, where a competing consumer or a restarted server can take
	// them, instead of in this process's memory. Endpoints that want more say
	// so with Concurrency.
	Prefetch int

	// DialTimeout bounds connecting: TCP connect, TLS and AMQP handshakes
	// together. New also gives up when its ctx ends.
	DialTimeout time.Duration

	// Heartbeat is the AMQP heartbeat interval. A dead connection is noticed
	// within about 1.5 heartbeats when idle (the client gives up after three
	// silent half-intervals); a heartbeat parameter in URL takes precedence.
	Heartbeat time.Duration

	// TLS configures TLS for amqps:// URLs. It is cloned, never modified.
	// Nil means the system roots and the URL's host name.
	TLS *tls.Config

	// Logger receives connection events (info, warn) and dropped messages
	// (warn for malformed requests, debug for replies nobody waits for).
	// Nil discards everything.
	Logger *slog.Logger

	// Observer, when set, hears each loss of the connection and each
	// reconnection (see Observer); for metrics.
	Observer Observer

	// ConnectionName is shown by the broker's management UI and rabbitmqctl.
	ConnectionName string

	// ReplyMode selects how replies find the caller; see ReplyDirect.
	ReplyMode ReplyMode

	// ManagementURL is the RabbitMQ management HTTP API,
	// http://user:password@host:15672, used by Routes to tell who a routing
	// key reaches. Empty: Routes says ports.ErrRoutesUnknown.
	ManagementURL string

	// RoutesTTL is how long Routes may reuse the bindings it read; zero reads
	// them for every call, so a server that just started is always expected.
	RoutesTTL time.Duration

	// MaxBody is the largest request body (Command.Args) in bytes;
	// DefaultMaxBody if < 1. Send refuses a longer request before
	// publishing it; Serve answers a longer delivery with
	// domain.CodeBadRequest and rejects it without requeueing, calling no
	// handler. (RabbitMQ's own max_message_size, 128 MiB by default, bounds
	// what reaches the queue at all.)
	MaxBody int

	// Jobs bounds the results store, a stream (jobs.go): its age
	// (x-max-age), total size (x-max-length-bytes) and the size of one
	// record; zero fields take ports.JobStoreLimits' defaults. They apply
	// when the stream is first declared: an existing stream keeps its own.
	Jobs ports.JobStoreLimits
	// JobSegmentBytes is the results stream's segment size
	// (x-stream-max-segment-size-bytes): the stream drops whole segments,
	// so its bounds hold to within one; DefaultJobSegmentBytes if < 1.
	JobSegmentBytes int64
	// PrepareJobs readies the results store while New connects, in the
	// background: its own connection, the stream's declarations and its
	// publishing channel, so that the first StoreJob or ScanJobs does not
	// wait for them (a CLI call recorded as a job stores its record before
	// its request goes out). A failure is left to the first StoreJob or
	// ScanJobs, which tries again and reports it.
	PrepareJobs bool
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	if c.QueuePrefix == "" {
		c.QueuePrefix = DefaultQueuePrefix
	}
	if c.Prefetch < 1 {
		c.Prefetch = DefaultPrefetch
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ConnectionName == "" {
		c.ConnectionName = DefaultConnectionName
	}
	if c.MaxBody < 1 {
		c.MaxBody = DefaultMaxBody
	}
	c.Jobs = c.Jobs.WithDefaults()
	if c.JobSegmentBytes < 1 {
		c.JobSegmentBytes = DefaultJobSegmentBytes
	}
	return c
}

// validate reports the first field of c (after withDefaults) that cannot work.
func (c Config) validate() error {
	switch {
	case len(c.brokers()) == 0:
		return fmt.Errorf("amqp: no broker URL given (want amqp://user:password@host:5672/)")
	case len(c.Exchange) > maxShortString:
		return fmt.Errorf("amqp: exchange name is %d bytes, at most %d allowed", len(c.Exchange), maxShortString)
	case strings.HasPrefix(c.Exchange, "amq."):
		return fmt.Errorf("amqp: exchange name %q is reserved by RabbitMQ (amq.*); choose another", c.Exchange)
	case len(c.QueuePrefix) >= maxShortString:
		return fmt.Errorf("amqp: queue prefix is %d bytes; queue names hold at most %d", len(c.QueuePrefix), maxShortString)
	case strings.HasPrefix(c.QueuePrefix, "amq."):
		return fmt.Errorf("amqp: queue prefix %q is reserved by RabbitMQ (amq.*); choose another", c.QueuePrefix)
	case c.QueueTypes < QueuesAuto || c.QueueTypes > QueuesReplicated:
		return fmt.Errorf("amqp: unknown queue types %d", int(c.QueueTypes))
	case c.ReplyMode != ReplyDirect && c.ReplyMode != ReplyQueue:
		return fmt.Errorf("amqp: unknown reply mode %d", int(c.ReplyMode))
	}
	return nil
}

// named returns c for a connection of the Transport's other than its own,
// told apart by suffix after ConnectionName in the management UI and
// rabbitmqctl list_connections.
func (c Config) named(suffix string) Config {
	c.ConnectionName += suffix
	return c
}
