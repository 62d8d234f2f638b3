package amqp

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
)

// checkBody reports a request body (Command.Args) over max bytes.
func checkBody(n, max int) error {
	if n > max {
		return fmt.Errorf("body is %d bytes, at most %d allowed", n, max)
	}
	return nil
}

// decode reads a request from d after checking its size against
// Config.MaxBody, so an oversized delivery is refused before its body is
// copied, and its reply-to address (see replyable), so no handler runs for
// a request whose replies could not be sent.
func (q *servedQueue) decode(d *amqp.Delivery) (*domain.Request, error) {
	if err := checkBody(len(d.Body), q.t.cfg.MaxBody); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if d.ReplyTo != "" && !replyable(d.ReplyTo) {
		return nil, fmt.Errorf("%w: reply-to %.80q is not a direct reply-to address RabbitMQ could have written", errMalformed, d.ReplyTo)
	}
	return decodeRequest(d)
}
