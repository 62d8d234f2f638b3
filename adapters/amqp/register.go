package amqp

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

var _ ports.Register = (*Transport)(nil)

// The fleet register on RabbitMQ, with no plugin: one durable queue,
// QueuePrefix+"fleet.register", bounded at one message (x-max-length 1,
// dropping the oldest), which is the whole register (codec_register.go),
// persistent, so the register survives a broker restart.
//
// Taking that message without acknowledging it (basic.get, no auto-ack)
// hides it from every other reader and writer until it is settled: that is
// the lock. A reader takes it and gives it back at once (basic.nack,
// requeue): its copy is exact, as of that instant. A writer takes it,
// publishes the new register with a publisher confirm, then acknowledges the
// old one; if the writer dies meanwhile, its channel closes and the broker
// requeues what it held (the length limit then drops the older of the
// two). Whoever finds the queue empty while it exists waits and tries again:
// someone holds it, for about one round trip.
//
// The queue exists once the register was first written: a reader that finds
// no queue has an empty register and does not wait. The first write is made
// by one writer at a time: the one that declares the exclusive queue
// QueuePrefix+"fleet.register.init" makes the register's queue and writes
// it; the others (RESOURCE_LOCKED) wait and then find it made. Each server
// also checks its entry soon after it started and records itself again if
// it is missing (app/register.go): a register purged by hand heals.
//
// Who is up: Consumers counts each queue's consumers with a passive
// queue.declare. RabbitMQ removes a consumer the moment its connection
// closes, so a killed server is down at once; a frozen one keeps its
// consumer until the connection's heartbeat times out (Config.Heartbeat).

// registerQueueSuffix names the register's queue after QueuePrefix. A server
// name cannot contain the dot; a shared queue may not start with "fleet.".
const registerQueueSuffix = "fleet.register"

// registerRetry is how long a reader or writer waits before trying a held
// register again; registerReadWait how long a reader waits in all before it
// gives up (errRegisterBusy: clients then tell who should answer another
// way). A write of a register of 10,000 servers holds it about 60 ms here.
const (
	registerRetry    = 2 * time.Millisecond
	registerReadWait = time.Second
)

// errRegisterBusy: the register was held longer than a reader waits.
var errRegisterBusy = errors.New("the fleet register is held by a writer; try again")

// registerStale is how long a writer finds the register's queue empty before
// it takes it for empty: past twice the heartbeat, a holder that froze or
// lost its network has been disconnected by the broker, and what it held
// requeued.
func (t *Transport) registerStale() time.Duration { return 2*t.cfg.Heartbeat + 5*time.Second }

func (t *Transport) registerQueue() string { return t.cfg.QueuePrefix + registerQueueSuffix }

// ReadRegister implements ports.Register. It gives the register back before
// decoding its copy: a reader holds it for a round trip.
func (t *Transport) ReadRegister(ctx context.Context) (*domain.Register, error) {
	var d *amqp.Delivery
	err := t.withRegister(ctx, false, func(_ *amqp.Channel, got *amqp.Delivery) error {
		d = got
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("amqp: read register: %w", err)
	}
	if d == nil {
		return domain.NewRegister(nil), nil // never written
	}
	g, err := t.decodeRegister(d)
	if err != nil {
		return nil, fmt.Errorf("amqp: read register: %w", err)
	}
	return g, nil
}

// UpdateRegister implements ports.Register. The writers of one Transport take
// turns (the lock on the first write is per connection).
func (t *Transport) UpdateRegister(ctx context.Context, fn func(*domain.Register) error) error {
	select {
	case t.regWrite <- struct{}{}:
		defer func() { <-t.regWrite }()
	case <-ctx.Done():
		return fmt.Errorf("amqp: update register: %w", ctx.Err())
	}
	err := t.withRegister(ctx, true, func(ch *amqp.Channel, d *amqp.Delivery) error {
		g := domain.NewRegister(nil)
		if d != nil {
			var err error
			if g, err = t.decodeRegister(d); err != nil {
				// Unreadable: replace it rather than keep the fleet
				// without a register.
				t.log.Error("amqp: the fleet register was unreadable; writing a new one", "error", err)
				g = domain.NewRegister(nil)
			}
		}
		if err := fn(g); err != nil {
			return err
		}
		msg, err := encodeRegister(g, time.Now())
		if err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			return fmt.Errorf("confirm mode: %w", err)
		}
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", t.registerQueue(), false, false, msg)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		ok, err := conf.WaitContext(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("publish: %w", err)
		case !ok:
			return errors.New("publish: the broker refused the register")
		}
		if d != nil {
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("settle the old register: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("amqp: update register: %w", err)
	}
	return nil
}

func (t *Transport) decodeRegister(d *amqp.Delivery) (*domain.Register, error) {
	g, skipped, err := decodeRegister(d.Body, time.Now())
	if skipped > 0 {
		t.log.Warn("amqp: left out malformed entries of the fleet register", "skipped", skipped)
	}
	return g, err
}

// withRegister runs fn with the register's message held on a channel of its
// own (d nil when the register was never written; create: declare its queue
// then). A reader's message is given back after fn; a writer's fn settles
// it. The channel is closed at the end, which gives back anything still
// held, also when ctx ends first.
func (t *Transport) withRegister(ctx context.Context, create bool, fn func(*amqp.Channel, *amqp.Delivery) error) error {
	l, err := t.awaitLink(ctx)
	if err != nil {
		return err
	}
	// work closes its channel on every path — which gives back a register
	// message still held — also when ctx ended meanwhile and runCtx
	// returned without waiting for it.
	work := func() error {
		ch, err := l.conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		defer func() { _ = ch.Close() }() // the latest one: a 404 closed those before it
		q := t.registerQueue()
		fresh := false // this writer made the queue: empty means never written
		for {
			_, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			if err == nil {
				if create && !t.regChecked.Swap(true) {
					// Once per Transport, a writer checks the queue's type:
					// one made by an earlier version is said (declareQueue).
					if err := t.declareQueue(l.conn, q, t.cfg.registerSpec()); err != nil {
						return err
					}
				}
				break
			}
			if !isNotFound(err) {
				return fmt.Errorf("look for queue %s: %w", q, err)
			}
			if !create {
				return fn(nil, nil) // never written: an empty register
			}
			// The first write: one writer at a time makes the queue, the
			// one holding the exclusive queue q+".init" (auto-deleted with
			// its connection if it dies). The others wait and find it made.
			if ch, err = l.conn.Channel(); err != nil { // the 404 closed the last one
				return fmt.Errorf("open channel: %w", err)
			}
			if _, err := ch.QueueDeclare(q+".init", false, true, true, false, nil); err != nil {
				if !isLocked(err) {
					return fmt.Errorf("declare queue %s.init: %w", q, err)
				}
				if ch, err = l.conn.Channel(); err != nil {
					return fmt.Errorf("open channel: %w", err)
				}
				if !sleepCtx(ctx, registerRetry) {
					return ctx.Err()
				}
				continue
			}
			defer ch.QueueDelete(q+".init", false, false, false) //nolint:errcheck // it goes with the connection anyway
			if err := t.declareQueue(l.conn, q, t.cfg.registerSpec()); err != nil {
				return err
			}
			fresh = true
			break
		}
		since := time.Now()
		for {
			d, ok, err := ch.Get(q, false)
			if err != nil {
				return fmt.Errorf("get from %s: %w", q, err)
			}
			if ok {
				if err := fn(ch, &d); err != nil {
					return err
				}
				if !create {
					return d.Nack(false, true)
				}
				return nil
			}
			// Held by someone else, or empty.
			switch waited := time.Since(since); {
			case fresh:
				// Made by this writer, which holds the lock on making it:
				// empty means never written.
				return fn(ch, nil)
			case create && waited >= t.registerStale():
				// Longer than any holder can live without a heartbeat: the
				// queue is empty (its first writer died before writing, or
				// it was purged). Start the register again.
				t.log.Warn("amqp: the fleet register's queue is empty; writing a new register", "waited", waited)
				return fn(ch, nil)
			case !create && waited >= registerReadWait:
				return errRegisterBusy
			}
			if !sleepCtx(ctx, registerRetry) {
				return ctx.Err()
			}
		}
	}
	return runCtx(ctx, work, func() {})
}

// isLocked reports a 405 from the broker: an exclusive queue of another
// connection.
func isLocked(err error) bool {
	var e *amqp.Error
	return errors.As(err, &e) && e.Code == amqp.ResourceLocked
}

// isNotFound reports a 404 from the broker: no such queue.
func isNotFound(err error) bool {
	var e *amqp.Error
	return errors.As(err, &e) && e.Code == amqp.NotFound
}

// consumerChannels is how many channels Consumers spreads its queries over:
// each channel waits for one answer at a time.
const consumerChannels = 8

// Consumers implements ports.Register: a passive queue.declare per queue,
// spread over up to consumerChannels channels (one is opened again after
// each queue that does not exist, whose 404 closes it).
func (t *Transport) Consumers(ctx context.Context, queues []string) ([]int, error) {
	l, err := t.awaitLink(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp: count consumers: %w", err)
	}
	counts := make([]int, len(queues))
	workers := min(consumerChannels, (len(queues)+15)/16) // a channel per 16 queues, at most 8
	chans := make([]*amqp.Channel, max(workers, 1))
	work := func() error {
		errs := make(chan error, len(chans))
		for w := range chans {
			go func() {
				errs <- func() error {
					for i := w; i < len(queues); i += len(chans) {
						if chans[w] == nil {
							ch, err := l.conn.Channel()
							if err != nil {
								return fmt.Errorf("open channel: %w", err)
							}
							chans[w] = ch
						}
						st, err := chans[w].QueueDeclarePassive(t.cfg.QueuePrefix+queues[i], true, false, false, false, nil)
						switch {
						case isNotFound(err):
							counts[i], chans[w] = ports.NoQueue, nil
						case err != nil:
							return fmt.Errorf("queue %s: %w", queues[i], err)
						default:
							counts[i] = st.Consumers
						}
					}
					return nil
				}()
			}()
		}
		var first error
		for range chans {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		for _, ch := range chans { // also when ctx ended meanwhile
			if ch != nil {
				_ = ch.Close()
			}
		}
		return first
	}
	if err := runCtx(ctx, work, func() {}); err != nil {
		return nil, fmt.Errorf("amqp: count consumers: %w", err)
	}
	return counts, nil
}

// DeleteQueue implements ports.Register: queue.delete with if-unused, on a
// channel of its own (a refusal closes it).
func (t *Transport) DeleteQueue(ctx context.Context, queue string) (int, error) {
	l, err := t.awaitLink(ctx)
	if err != nil {
		return 0, fmt.Errorf("amqp: delete queue %s: %w", queue, err)
	}
	var held int
	// work closes the channels it opens, also when ctx ended meanwhile and
	// runCtx returned without waiting for it.
	work := func() error {
		ch, err := l.conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		defer ch.Close()
		q := t.cfg.QueuePrefix + queue
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			if isNotFound(err) {
				return ports.ErrNoQueue
			}
			return err
		}
		n, err := ch.QueueDelete(q, true, false, false)
		var e *amqp.Error
		if errors.As(err, &e) && e.Code == amqp.PreconditionFailed {
			return fmt.Errorf("%w: %s", ports.ErrQueueInUse, e.Reason)
		}
		held = n
		return err
	}
	if err := runCtx(ctx, work, func() {}); err != nil {
		return 0, fmt.Errorf("amqp: delete queue %s: %w", queue, err)
	}
	return held, nil
}
