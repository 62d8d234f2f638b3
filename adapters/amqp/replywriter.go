package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
)

// replyWriter publishes the replies to one request on the channel that
// delivered it, whose client-side mutex serializes them with other workers'
// replies and acks.
type replyWriter struct {
	q        *servedQueue
	g        *generation // the generation whose channel delivered the request
	callID   string
	replyTo  string
	finished atomic.Bool
	poisoned atomic.Bool // the reply-to is poisonous (replyguard.go): reject the request
	claimed  atomic.Bool // the delivery holds its call's claim (claims.go)
}

// Reply publishes r to the caller's reply-to address. It returns once the
// reply is written to the connection; it waits, at most until ctx ends, while
// the broker blocks publishers. It fails after the handler has returned.
func (w *replyWriter) Reply(ctx context.Context, r domain.Reply) error {
	msg, err := w.encode(ctx, r)
	if err != nil {
		return err
	}
	l := w.g.link
	if err := l.gate.wait(ctx, l.lost, l.failure); err != nil {
		return fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	if err := w.g.sc.ch.PublishWithContext(ctx, "", w.replyTo, false, false, msg); err != nil {
		return fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	return nil
}

// encode checks that a reply may still be sent and encodes it.
func (w *replyWriter) encode(ctx context.Context, r domain.Reply) (amqp.Publishing, error) {
	if w.finished.Load() {
		return amqp.Publishing{}, fmt.Errorf("amqp: reply to %s: the handler has already returned", w.callID)
	}
	if err := ctx.Err(); err != nil {
		return amqp.Publishing{}, fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	r.CallID = w.callID
	if r.Server == "" {
		r.Server = w.q.ep.Name
	}
	msg, err := encodeReply(&r)
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	return msg, nil
}

// guard routes the reply r through the Transport's replyGuard when its
// reply-to is a direct reply-to address of a node not yet proven: it
// reports sent when the probe connection published it (or refused it: err
// says so); else the reply is the delivering channel's to publish. refused
// says why no reply may go out any more, checked before a probe.
func (w *replyWriter) guard(ctx context.Context, r domain.Reply, refused func() error) (sent bool, err error) {
	rg := w.q.t.guard
	node, safe, err := rg.route(w.replyTo, time.Now())
	if err == nil && safe {
		return false, nil
	}
	if err == nil {
		if err := refused(); err != nil {
			return true, err
		}
		var msg amqp.Publishing
		if msg, err = w.encode(ctx, r); err != nil {
			return true, err
		}
		err = rg.send(ctx, node, w.replyTo, w.callID, &msg)
		if errors.Is(err, errProven) {
			return false, nil
		}
	}
	if errors.Is(err, ErrPoisonReplyTo) || errors.Is(err, ErrProbeBackoff) {
		w.poisoned.Store(true)
	}
	if err != nil {
		return true, fmt.Errorf("amqp: reply to %s at %s: %w", w.callID, truncate(w.replyTo, 255), err)
	}
	return true, nil
}
