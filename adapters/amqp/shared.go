package amqp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// sharedChan is one AMQP channel several consumers use at once: the
// consumers of one Serve (its queue and its work queues), or the presence
// watchers of one connection. A connection has at most channel_max channels
// (2,047 by RabbitMQ's default), so a channel per consumer would cap the
// servers one Transport holds at about 500; sharing one per Serve raises it
// to about 2,000.
//
// RabbitMQ applies basic.qos with global=false to each consumer started
// after it on the channel, not to the channel ("Consumer Prefetch" in its
// documentation), so each consumer keeps its own prefetch count: consume
// sets it right before the basic.consume.
//
// Synchronous methods (declarations, basic.qos, basic.consume,
// basic.cancel) go through rpc, one at a time and apart from every other
// frame: amqp091-go hands a method's answer to whichever call on the
// channel waits first, so two calls at once could swap their answers, and it
// writes a method frame without the channel's lock, so one could fall
// between the frames of a reply being published, which RabbitMQ answers by
// closing the connection (505 UNEXPECTED_FRAME).
//
// A delivery is acknowledged, and the replies to a request published, on
// the channel that delivered it and on no other: delivery tags belong to
// their channel. A new connection gets new channels; nothing moves from a
// channel to another.
//
// One goroutine follows the channel's notifications (follow): it records
// why the channel closed and closes done, and it tells each consumer the
// broker cancels (its queue was deleted) apart from the others, by tag. It
// ends when the channel closes, at the latest when its connection does.
type sharedChan struct {
	link   *link
	ch     *amqp.Channel
	holder *chanHolder
	log    *slog.Logger

	closes  <-chan *amqp.Error // ch's NotifyClose
	cancels <-chan string      // ch's NotifyCancel
	syncs   chan chan struct{} // poll's requests to follow

	mu        sync.Mutex
	done      chan struct{}            // closed once the channel has closed, whoever closed it
	err       *amqp.Error              // why the broker closed it (nil: closed by the client); set before done closes
	cancelled map[string]chan struct{} // consumer tag → closed when the broker cancels that consumer

	// chMu is held for reading while ch carries an ack, a nack or a reply,
	// and for writing across a synchronous method (rpc) and to mark the
	// channel closing: a frame sent on a channel after channel.close makes
	// RabbitMQ close the whole connection (504 CHANNEL_ERROR), every other
	// channel on it included.
	chMu      sync.RWMutex
	chClosing bool // guarded by chMu; no frame goes out on ch once set

	refs    int  // users; guarded by holder.mu
	retired bool // no new user once set; guarded by holder.mu
}

// openShared opens a channel on l for h's consumers and starts following
// its notifications.
func openShared(l *link, h *chanHolder, log *slog.Logger) (*sharedChan, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	c := &sharedChan{
		link:   l,
		ch:     ch,
		holder: h,
		log:    log,
		// The library waits up to 5 s for a full listener, then drops the
		// notification: these are read at once, and buffered besides.
		closes:    ch.NotifyClose(make(chan *amqp.Error, 1)),
		cancels:   ch.NotifyCancel(make(chan string, 16)),
		syncs:     make(chan chan struct{}),
		done:      make(chan struct{}),
		cancelled: make(map[string]chan struct{}),
	}
	go c.follow()
	return c, nil
}

// follow handles the channel's notifications until it closes.
func (c *sharedChan) follow() {
	cancels := c.cancels
	for {
		select {
		case tag, ok := <-cancels:
			if !ok {
				cancels = nil // closed with the channel: closes says why
				continue
			}
			c.cancelledTag(tag)
		case e, ok := <-c.closes:
			c.closedWith(e, ok)
			return
		case reply := <-c.syncs:
			// Take in what the library has handed over already.
			for drained := false; !drained; {
				select {
				case tag, ok := <-cancels:
					if !ok {
						cancels = nil
					} else {
						c.cancelledTag(tag)
					}
				default:
					drained = true
				}
			}
			closed := false
			select {
			case e, ok := <-c.closes:
				c.closedWith(e, ok)
				closed = true
			default:
			}
			close(reply)
			if closed {
				return
			}
		}
	}
}

// poll returns once follow has handled every notification the library has
// handed over. The library hands over a consumer's cancel, or the
// channel's closing with an error, before it ends the consumers'
// deliveries: once a consumer's deliveries have ended, poll brings its
// signals up to date.
func (c *sharedChan) poll() {
	reply := make(chan struct{})
	select {
	case c.syncs <- reply:
		<-reply
	case <-c.done:
	}
}

func (c *sharedChan) cancelledTag(tag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.cancelled[tag]; ok {
		close(s)
		delete(c.cancelled, tag)
	}
}

// closedWith records why the channel closed and closes done; only follow
// calls it, once.
func (c *sharedChan) closedWith(e *amqp.Error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.err = e
	}
	close(c.done)
}

// closed returns a channel closed once the AMQP channel has closed.
func (c *sharedChan) closed() <-chan struct{} { return c.done }

// closeError returns why the broker closed the channel, nil when the client
// did (or the connection closed cleanly). Call it once closed() is closed.
func (c *sharedChan) closeError() *amqp.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// watchCancel returns a channel closed when the broker cancels the consumer
// tag; call it before the basic.consume, and forget(tag) once done.
func (c *sharedChan) watchCancel(tag string) <-chan struct{} {
	s := make(chan struct{})
	c.mu.Lock()
	c.cancelled[tag] = s
	c.mu.Unlock()
	return s
}

// forget stops watching tag.
func (c *sharedChan) forget(tag string) {
	c.mu.Lock()
	delete(c.cancelled, tag)
	c.mu.Unlock()
}

// rpc runs fn, which calls synchronous methods on ch, alone on the channel:
// no other method, ack or reply goes out until it returns. It fails with
// amqp.ErrClosed once the channel is closing.
func (c *sharedChan) rpc(fn func(ch *amqp.Channel) error) error {
	c.chMu.Lock()
	defer c.chMu.Unlock()
	if c.chClosing {
		return amqp.ErrClosed
	}
	return fn(c.ch)
}

// consume starts consuming queue with manual acks and a prefetch count of
// its own.
func (c *sharedChan) consume(queue, tag string, prefetch int, exclusive bool) (d <-chan amqp.Delivery, err error) {
	err = c.rpc(func(ch *amqp.Channel) error {
		if err := ch.Qos(prefetch, 0, false); err != nil {
			return fmt.Errorf("set prefetch %d: %w", prefetch, err)
		}
		if d, err = ch.Consume(queue, tag, false, exclusive, false, false, nil); err != nil {
			return fmt.Errorf("consume queue %s: %w", queue, err)
		}
		return nil
	})
	return d, err
}

// cancel cancels the consumer tag (basic.cancel) and waits for the
// broker's answer; its deliveries then end. The other consumers on the
// channel go on. It fails with amqp.ErrClosed once the channel is closing.
func (c *sharedChan) cancel(tag string) error {
	return c.rpc(func(ch *amqp.Channel) error { return ch.Cancel(tag, false) })
}

// closeChannel closes the channel once the frames being sent on it are out;
// none goes out after.
func (c *sharedChan) closeChannel() {
	c.chMu.Lock() // waits for acks and replies being sent
	c.chClosing = true
	c.chMu.Unlock()
	if err := c.ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		c.log.Debug("amqp: close channel", "error", err)
	}
}

// release gives the channel back; the last user's release closes it.
func (c *sharedChan) release() { c.holder.release(c) }

// chanHolder hands the consumers of one group (one Serve, or the presence
// watchers of one connection) the channel they share on the live
// connection, opening one when there is none or the last one closed.
type chanHolder struct {
	mu  sync.Mutex
	cur *sharedChan
}

// acquire returns the group's open channel on l, opening one if need be;
// release it when done.
func (h *chanHolder) acquire(l *link, log *slog.Logger) (*sharedChan, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.cur; c != nil && c.link == l && !c.retired {
		select {
		case <-c.done:
		default:
			if !c.ch.IsClosed() {
				c.refs++
				return c, nil
			}
		}
	}
	c, err := openShared(l, h, log)
	if err != nil {
		return nil, err
	}
	c.refs = 1
	h.cur = c
	return c, nil
}

// release gives c back; the last user's release closes it.
func (h *chanHolder) release(c *sharedChan) {
	h.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last {
		c.retired = true
		if h.cur == c {
			h.cur = nil
		}
	}
	h.mu.Unlock()
	if last {
		c.closeChannel()
	}
}
