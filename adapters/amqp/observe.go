package amqp

import (
	"errors"
	"fmt"

	"github.com/topicrpc/topicrpc/ports"
)

// Observer hears about the Transport's connection, for metrics: each loss
// of the connection and each reconnection the supervisor makes. Its methods
// are called from the supervisor's goroutine, one at a time, in the order of
// the events; they must return quickly. Config.Observer nil hears nothing.
type Observer interface {
	// ConnectionLost reports the connection to the broker lost, and why.
	ConnectionLost(err error)
	// Reconnected reports a new connection set up after a loss.
	Reconnected()
}

// errNotConsuming is Ready's error while a consumer is between connections.
var errNotConsuming = errors.New("amqp: not consuming")

// Ready reports whether the Transport is connected to the broker and every
// queue it serves (Serve's own queue and work queues) and every presence
// watcher is being consumed: nil when so, else an error saying what is not
// (ports.ErrClosed once closed; ErrConnectionLost while reconnecting; a
// consumer being set up again after its channel broke). A Transport with no
// consumer is ready once connected. Safe for concurrent use; cheap: no call
// to the broker.
func (t *Transport) Ready() error {
	if t.ctx.Err() != nil {
		return ports.ErrClosed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.link.down() {
		return ErrConnectionLost
	}
	for c := range t.subs {
		if c.paused.Load() && !c.stopping.Load() {
			return fmt.Errorf("%w: %s", errNotConsuming, c.spec.what)
		}
	}
	return nil
}
