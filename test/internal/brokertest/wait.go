package brokertest

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// WaitAMQP dials url until a connection (AMQP handshake included) succeeds,
// then closes it; it gives up when ctx ends, returning the last dial error.
// Use it after restarting a broker.
func WaitAMQP(ctx context.Context, url string) error {
	const (
		maxDial = 2 * time.Second
		pause   = 250 * time.Millisecond
	)
	var last error
	for {
		if err := ctx.Err(); err != nil {
			if last == nil {
				last = err
			}
			return fmt.Errorf("wait for AMQP at %s: %w (last dial error: %v)", redact(url), err, last)
		}
		timeout := maxDial
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < timeout {
			timeout = max(time.Until(deadline), 10*time.Millisecond)
		}
		conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(timeout)})
		if err == nil {
			_ = conn.Close()
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}
