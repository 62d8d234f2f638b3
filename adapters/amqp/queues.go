package amqp

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// QueueTypes selects the kinds of queue a Transport declares: what a single
// broker needs, or what survives the loss of a node of a cluster.
//
//	queue                  QueuesClassic            QueuesReplicated
//	server (<name>)        classic, durable         classic, transient
//	work (work.<group>)    classic, durable         quorum
//	register               classic, durable         quorum
//	presence, replies      classic, exclusive       classic, exclusive
//
// Why (measured on 3.10.8, docs/RELIABILITY.md): a durable classic queue
// lives on one node; while that node is down it cannot be declared or used
// (404, "home node ... is down"), so its server is stranded. A transient
// classic queue is dropped with its node, and its server, reconnected to
// another node, declares it there and serves again; the requests it held
// are lost, as their replies would be (calls end at their deadline naming
// the servers). A quorum queue keeps its messages on a majority of nodes:
// jobs and the register lose nothing, but each costs about 5 times the
// memory of a classic queue and twice the time to declare, too much for one
// queue per server in a fleet of thousands. Quorum queues keep what
// topicrpc relies on: per-message TTL (since 3.10), prefetch per consumer,
// redelivery of unacknowledged messages, basic.get holding a message until
// it is settled, x-max-length with the oldest dropped.
type QueueTypes int

const (
	// QueuesAuto is QueuesReplicated with more than one broker URL (a
	// cluster), QueuesClassic with one.
	QueuesAuto QueueTypes = iota
	// QueuesClassic declares durable classic queues: one broker.
	QueuesClassic
	// QueuesReplicated declares the queue types above that survive the
	// loss of a cluster node; every program of a fleet should use it.
	QueuesReplicated
)

func (q QueueTypes) String() string {
	switch q {
	case QueuesAuto:
		return "auto"
	case QueuesClassic:
		return "classic"
	case QueuesReplicated:
		return "replicated"
	}
	return fmt.Sprintf("QueueTypes(%d)", int(q))
}

// ParseQueueTypes parses "auto", "classic" or "replicated".
func ParseQueueTypes(s string) (QueueTypes, error) {
	for _, q := range []QueueTypes{QueuesAuto, QueuesClassic, QueuesReplicated} {
		if s == q.String() {
			return q, nil
		}
	}
	return 0, fmt.Errorf("queue types %q: want auto, classic or replicated", s)
}

// replicated reports whether c declares the queue types of a cluster.
func (c Config) replicated() bool {
	if c.QueueTypes == QueuesAuto {
		return len(c.brokers()) > 1
	}
	return c.QueueTypes == QueuesReplicated
}

// quorum is the argument of a quorum queue.
var quorum = amqp.Table{"x-queue-type": "quorum"}

// queueSpec is how a kind of queue is declared.
type queueSpec struct {
	durable bool
	args    amqp.Table
}

// serverQueue is how server queues are declared.
func (c Config) serverQueue() queueSpec {
	return queueSpec{durable: !c.replicated()}
}

// workQueueSpec is how work queues are declared.
func (c Config) workQueueSpec() queueSpec {
	if c.replicated() {
		return queueSpec{durable: true, args: quorum}
	}
	return queueSpec{durable: true}
}

// registerSpec is how the register's queue is declared: bounded to its
// latest message either way.
func (c Config) registerSpec() queueSpec {
	args := amqp.Table{"x-max-length": int32(1)}
	if c.replicated() {
		args["x-queue-type"] = "quorum"
	}
	return queueSpec{durable: true, args: args}
}

// mismatches remembers the queues already reported as declared with other
// arguments, to say it once per queue and Transport.
type mismatches struct {
	mu   sync.Mutex
	seen map[string]bool
}

// first reports whether queue is reported for the first time.
func (m *mismatches) first(queue string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[queue] {
		return false
	}
	m.seen[queue] = true
	return true
}

// declareQueue declares queue as spec says on a channel of conn of its own
// (a refusal closes its channel). A queue that exists with other arguments
// (PRECONDITION_FAILED, 406: declared by an earlier version, or by a
// program given other queue types) is used as it is, never a reason to
// fail or retry: it logs, once per queue, one line saying what to do.
func (t *Transport) declareQueue(conn *amqp.Connection, queue string, spec queueSpec) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: open channel: %w", err)
	}
	_, refused := ch.QueueDeclare(queue, spec.durable, false, false, false, spec.args)
	if refused == nil {
		return ch.Close()
	}
	if !isPreconditionFailed(refused) {
		_ = ch.Close()
		return fmt.Errorf("amqp: declare queue %s: %w", queue, refused)
	}
	if ch, err = conn.Channel(); err != nil { // the 406 closed the last one
		return fmt.Errorf("amqp: open channel: %w", err)
	}
	defer func() { _ = ch.Close() }()
	if _, perr := ch.QueueDeclarePassive(queue, spec.durable, false, false, false, nil); perr != nil {
		return fmt.Errorf("amqp: declare queue %s: %w", queue, perr)
	}
	if t.mismatched.first(queue) {
		t.log.Warn(fmt.Sprintf("amqp: queue %s exists with other settings than %s queues (%s); using it as it is. "+
			"To change it: stop the programs using it, delete it (rabbitmqctl delete_queue %s), start them again",
			queue, t.cfg.queueTypes(), describe(spec), queue), "queue", queue, "broker_said", refused.Error())
	}
	return nil
}

// queueTypes names the queue types c declares.
func (c Config) queueTypes() string {
	if c.replicated() {
		return QueuesReplicated.String()
	}
	return QueuesClassic.String()
}

// describe says what spec asks for: "durable, x-queue-type=quorum".
func describe(spec queueSpec) string {
	parts := []string{"transient"}
	if spec.durable {
		parts[0] = "durable"
	}
	keys := make([]string, 0, len(spec.args))
	for k := range spec.args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, spec.args[k]))
	}
	if len(keys) == 0 {
		parts = append(parts, "classic")
	}
	return "wanted " + strings.Join(parts, ", ")
}

// isPreconditionFailed reports a 406 from the broker: a queue declared
// with other arguments.
func isPreconditionFailed(err error) bool {
	var e *amqp.Error
	return errors.As(err, &e) && e.Code == amqp.PreconditionFailed
}
