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

// publisher publishes requests on one channel in confirm mode with the
// mandatory flag, and tells its callers whether the broker routed them.
//
// Publishing is safe for concurrent use: amqp091-go holds the channel's mutex
// across numbering a message for confirms and writing its frames (checked in
// v1.16.0), so several Sends pipeline on one channel and wait for their
// confirms in parallel.
//
// RabbitMQ sends basic.return for an unroutable message before its basic.ack,
// and the client library hands the return to the returns channel before it
// processes the ack. So once a Send has seen its confirm, its return, if any,
// is in the returns channel or already moved to pending by another Send: the
// Sends drain the channel under mu, so none can miss a return.
type publisher struct {
	ch       *amqp.Channel
	exchange string
	replyTo  string
	returns  chan amqp.Return
	closed   chan *amqp.Error // the channel's NotifyClose
	err      atomic.Pointer[error]
	conn     *amqp.Connection

	mu      sync.Mutex
	pending map[string]bool // call ID → returned, for Sends waiting on a confirm
}

// openPublisher opens a confirming channel on conn publishing to exchange.
// With consumeDirect it also consumes direct reply-to on that channel and
// returns the replies' deliveries; replyTo is then ignored.
func openPublisher(conn *amqp.Connection, exchange, replyTo string, consumeDirect bool) (*publisher, <-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("amqp: open publishing channel: %w", err)
	}
	p := &publisher{
		ch:       ch,
		conn:     conn,
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
	case p.conn.IsClosed():
		err = fmt.Errorf("%w: %w", ErrConnectionLost, e)
		e = nil
	default:
		err = fmt.Errorf("%w: %w", errPubChannel, e)
	}
	p.err.Store(&err)
	return e
}

// broken returns why publishing cannot work, or nil: the transport is down,
// or the channel closed.
func (p *publisher) broken(down <-chan struct{}, downErr func() error) error {
	select {
	case <-down:
		return downErr()
	default:
	}
	if e := p.err.Load(); e != nil {
		return *e
	}
	if p.conn.IsClosed() { // before the watchers have heard of it
		return ErrConnectionLost
	}
	return nil
}

// publish sends msg to key on exchange (p.exchange for requests to the topic
// exchange) with the mandatory flag and waits for the broker's confirm, for
// ctx, or for down to close, whichever comes first. It reports whether the
// broker returned msg because no queue matched key. The exchange must exist:
// publishing to a missing one makes the broker close the channel. An error
// wrapping errUnsent means msg was not written: the channel or connection
// was already closed.
func (p *publisher) publish(ctx context.Context, exchange, key string, msg *amqp.Publishing, down <-chan struct{}, downErr func() error) (returned bool, err error) {
	if err := p.broken(down, downErr); err != nil {
		return false, fmt.Errorf("%w: %w", errUnsent, err)
	}
	id := msg.CorrelationId
	p.mu.Lock()
	p.pending[id] = false
	p.mu.Unlock()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, *msg)
	if err != nil {
		// With the connection gone, a publish that failed was never
		// routed: the broker routes a message only once all its frames
		// are in, and the connection that failed to carry them is gone.
		p.forget(id)
		if berr := p.broken(down, downErr); berr != nil {
			return false, fmt.Errorf("%w: %w", errUnsent, berr)
		}
		return false, err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		p.forget(id)
		return false, ctx.Err()
	case <-down:
		p.forget(id)
		return false, downErr()
	}
	p.mu.Lock()
	p.drainReturns()
	returned = p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if !dc.Acked() {
		// The library nacks what is unconfirmed when the channel closes.
		if err := p.broken(down, downErr); err != nil {
			return false, err
		}
		if p.ch.IsClosed() {
			return false, errPubChannel
		}
		return false, errNacked
	}
	return returned, nil
}

// forget drops the bookkeeping of a Send that gave up waiting.
func (p *publisher) forget(id string) {
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
