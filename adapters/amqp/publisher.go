package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// directReplyTo is RabbitMQ's direct reply-to pseudo-queue. A message whose
// reply-to property names it reaches the consumer of that pseudo-queue on the
// channel that published the message.
const directReplyTo = "amq.rabbitmq.reply-to"

// returnBuffer is how many returned (unroutable) requests may wait for their
// Send to look at them. The client library gives up on a full buffer after 5 s
// and loses the return, so it must exceed the Sends in flight by far.
const returnBuffer = 256

var (
	errNacked     = errors.New("broker refused the request (basic.nack)")
	errPubChannel = errors.New("publishing channel closed")
	errUnsent     = errors.New("not sent") // nothing reached the broker: safe to send again
)

// publisher publishes on one channel in confirm mode and tells its callers
// whether the broker took each message: requests (mandatory, so it also
// tells whether the broker routed them) and presence messages (not
// mandatory). It is the one place that publishes to exchanges: it waits
// out the broker's flow control, publishes, waits for the confirm, and
// tells a nack, a closed channel and a lost connection apart.
//
// Publishing is safe for concurrent use: amqp091-go holds the channel's mutex
// across numbering a message for confirms and writing its frames (checked in
// v1.16.0), so several Sends pipeline on one channel and wait for their
// confirms in parallel. Messages published by one goroutine after another
// reach each queue in that order.
//
// RabbitMQ sends basic.return for an unroutable message before its basic.ack,
// and the client library hands the return to the returns channel before it
// processes the ack. So once a Send has seen its confirm, its return, if any,
// is in the returns channel or already moved to pending by another Send: the
// Sends drain the channel under mu, so none can miss a return.
type publisher struct {
	ch       *amqp.Channel
	link     *link // the connection the channel is on
	exchange string
	replyTo  string
	returns  chan amqp.Return
	closed   chan *amqp.Error // the channel's NotifyClose
	err      atomic.Pointer[error]

	mu      sync.Mutex
	pending map[string]bool // call ID → returned, for Sends waiting on a confirm
}

// openPublisher opens a confirming channel on l's connection publishing to
// exchange. With consumeDirect it also consumes direct reply-to on that
// channel and returns the replies' deliveries; replyTo is then ignored.
func openPublisher(l *link, exchange, replyTo string, consumeDirect bool) (*publisher, <-chan amqp.Delivery, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("amqp: open publishing channel: %w", err)
	}
	p := &publisher{
		ch:       ch,
		link:     l,
		exchange: exchange,
		replyTo:  replyTo,
		returns:  ch.NotifyReturn(make(chan amqp.Return, returnBuffer)),
		closed:   ch.NotifyClose(make(chan *amqp.Error, 1)),
		pending:  make(map[string]bool),
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("amqp: put publishing channel in confirm mode: %w", err)
	}
	var replies <-chan amqp.Delivery
	if consumeDirect {
		replies, err = ch.Consume(directReplyTo, "", true, false, false, false, nil)
		if err != nil {
			ch.Close()
			return nil, nil, fmt.Errorf("amqp: consume %s: %w", directReplyTo, err)
		}
		p.replyTo = directReplyTo
	}
	return p, replies, nil
}

// watch waits for the channel to close and records why, so that later
// Sends fail at once. It returns the broker's reason when the broker closed
// the channel while the connection stayed up (a channel exception), else nil.
func (p *publisher) watch() *amqp.Error {
	e, ok := <-p.closed
	var err error
	switch {
	case !ok || e == nil:
		err = errPubChannel // closed on purpose
	case p.link.conn.IsClosed():
		err = fmt.Errorf("%w: %w", ErrConnectionLost, e)
		e = nil
	default:
		err = fmt.Errorf("%w: %w", errPubChannel, e)
	}
	p.err.Store(&err)
	return e
}

// broken returns why publishing cannot work, or nil: the link is lost (or
// the Transport closed), or the channel closed.
func (p *publisher) broken() error {
	l := p.link
	select {
	case <-l.lost:
		return l.failure()
	default:
	}
	if e := p.err.Load(); e != nil {
		return *e
	}
	if l.conn.IsClosed() { // before the watchers have heard of it
		return ErrConnectionLost
	}
	return nil
}

// publish sends msg to key on exchange (p.exchange for requests to the topic
// exchange) and waits for the broker's confirm, at most until ctx ends or
// the link is lost, first waiting, as long, while the broker blocks
// publishers (flowGate). With mandatory, it reports whether the broker
// returned msg because no queue matched key; msg's correlation id then
// tells its return from others', and must be unique among the messages in
// flight. The exchange must exist: publishing to a missing one makes the
// broker close the channel. An error wrapping errUnsent means msg was not
// written: the channel or connection was already closed; errNacked, that
// the broker refused it.
func (p *publisher) publish(ctx context.Context, exchange, key string, msg *amqp.Publishing, mandatory bool) (returned bool, err error) {
	l := p.link
	if err := l.gate.wait(ctx, l.lost, l.failure); err != nil {
		if l.down() {
			err = fmt.Errorf("%w: %w", errUnsent, err)
		}
		return false, err
	}
	if err := p.broken(); err != nil {
		return false, fmt.Errorf("%w: %w", errUnsent, err)
	}
	id := msg.CorrelationId
	if mandatory {
		p.mu.Lock()
		p.pending[id] = false
		p.mu.Unlock()
	}
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, mandatory, false, *msg)
	if err != nil {
		// With the connection gone, a publish that failed was never
		// routed: the broker routes a message only once all its frames
		// are in, and the connection that failed to carry them is gone.
		p.forget(id, mandatory)
		if berr := p.broken(); berr != nil {
			return false, fmt.Errorf("%w: %w", errUnsent, berr)
		}
		return false, err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		p.forget(id, mandatory)
		return false, ctx.Err()
	case <-l.lost:
		p.forget(id, mandatory)
		return false, l.failure()
	}
	if mandatory {
		p.mu.Lock()
		p.drainReturns()
		returned = p.pending[id]
		delete(p.pending, id)
		p.mu.Unlock()
	}
	if !dc.Acked() {
		// The library nacks what is unconfirmed when the channel closes.
		if err := p.broken(); err != nil {
			return false, err
		}
		if p.ch.IsClosed() {
			return false, errPubChannel
		}
		return false, errNacked
	}
	return returned, nil
}

// forget drops the bookkeeping of a mandatory publish that gave up waiting.
func (p *publisher) forget(id string, mandatory bool) {
	if !mandatory {
		return
	}
	p.mu.Lock()
	p.drainReturns()
	delete(p.pending, id)
	p.mu.Unlock()
}

// drainReturns moves the returns received so far into pending, dropping
// those of Sends no longer waiting. p.mu must be held.
func (p *publisher) drainReturns() {
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				return
			}
			if _, waiting := p.pending[r.CorrelationId]; waiting {
				p.pending[r.CorrelationId] = true
			}
		default:
			return
		}
	}
}
