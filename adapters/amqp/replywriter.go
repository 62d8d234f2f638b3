package amqp

import (
	"context"
	"fmt"
	"sync/atomic"

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
}

// Reply publishes r to the caller's reply-to address. It returns once the
// reply is written to the connection; it waits, at most until ctx ends, while
// the broker blocks publishers. It fails after the handler has returned.
func (w *replyWriter) Reply(ctx context.Context, r domain.Reply) error {
	if w.finished.Load() {
		return fmt.Errorf("amqp: reply to %s: the handler has already returned", w.callID)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
	}
	r.CallID = w.callID
	if r.Server == "" {
		r.Server = w.q.ep.Name
	}
	msg, err := encodeReply(&r)
	if err != nil {
		return fmt.Errorf("amqp: reply to %s: %w", w.callID, err)
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
