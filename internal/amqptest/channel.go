package amqptest

import (
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// dialTimeout bounds a dial to the test broker.
const dialTimeout = 10 * time.Second

// Channel opens a connection to the broker at url and a channel on it, for
// publishing and consuming by hand, and closes both when tb ends. It fails
// the test if either cannot be opened.
func Channel(tb testing.TB, url string) *amqp091.Channel {
	tb.Helper()
	conn, err := amqp091.DialConfig(url, amqp091.Config{Dial: amqp091.DefaultDial(dialTimeout)})
	if err != nil {
		tb.Fatalf("dial the broker: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("open a channel: %v", err)
	}
	return ch
}

// WithChannel dials the broker at url, calls fn, and closes the connection:
// for cleanup functions, which must not fail the test for a broker that has
// gone. fn gets the channel through ch, which opens a new one when the
// broker closed the last (as it does after a failed operation).
func WithChannel(url string, fn func(ch func() (*amqp091.Channel, error)) error) error {
	conn, err := amqp091.DialConfig(url, amqp091.Config{Dial: amqp091.DefaultDial(dialTimeout)})
	if err != nil {
		return fmt.Errorf("dial the broker: %w", err)
	}
	defer conn.Close()
	var c *amqp091.Channel
	return fn(func() (*amqp091.Channel, error) {
		if c == nil || c.IsClosed() {
			if c, err = conn.Channel(); err != nil {
				return nil, fmt.Errorf("open a channel: %w", err)
			}
		}
		return c, nil
	})
}
