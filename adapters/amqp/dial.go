package amqp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// checkURL reports why rawURL is not an AMQP URI, in one line that hides
// its password.
func checkURL(rawURL string) error {
	if _, err := amqp.ParseURI(rawURL); err != nil {
		return fmt.Errorf("amqp: bad broker URL %s: %w (percent-encode reserved characters such as @ : / ? # in the user name or password)",
			RedactURL(rawURL), scrub(urlError(err), rawURL))
	}
	return nil
}

// dialOne connects to the broker at rawURL with cfg's settings. Everything
// (TCP connect, TLS and AMQP handshakes) is bounded by cfg.DialTimeout and
// by ctx, so a refused connection, a wrong password, a silent peer or an
// unreachable host all end in one error that names the redacted URL.
func dialOne(ctx context.Context, cfg Config, rawURL string) (*amqp.Connection, error) {
	where := RedactURL(rawURL)
	if err := checkURL(rawURL); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cfg.DialTimeout)
	ctxFirst := false // ctx's deadline bounds the handshake, not DialTimeout
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxFirst = d, true
	}
	dialCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(cfg.ConnectionName)
	var netConn net.Conn // set by Dial, read after DialConfig returns
	ac := amqp.Config{
		Heartbeat:  cfg.Heartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(dialCtx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the TLS and AMQP handshakes; amqp091 clears it once the
			// connection is open and heartbeats take over.
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			netConn = c
			return c, nil
		},
	}
	if cfg.TLS != nil {
		ac.TLSClientConfig = cfg.TLS.Clone()
	}

	type result struct {
		conn *amqp.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := amqp.DialConfig(rawURL, ac)
		if err != nil && netConn != nil {
			netConn.Close() // amqp091 does not always close it on a failed handshake
		}
		done <- result{c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// The handshake ends by deadline at the latest; close what it opens.
		go func() {
			if r := <-done; r.err == nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("amqp: connect to %s: %w", where, ctx.Err())
	}
	if r.err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("amqp: connect to %s: %w (%v)", where, ctx.Err(), scrub(r.err, rawURL))
		}
		if !time.Now().Before(deadline) && ctxFirst { // the socket timed out a hair before ctx did
			return nil, fmt.Errorf("amqp: connect to %s: %w (%v)", where, context.DeadlineExceeded, scrub(r.err, rawURL))
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("amqp: connect to %s: no answer within %v; check the host and port (is it a RabbitMQ AMQP port?) and firewalls: %w",
				where, cfg.DialTimeout, scrub(r.err, rawURL))
		}
		return nil, fmt.Errorf("amqp: connect to %s: %w", where, dialError(scrub(r.err, rawURL)))
	}
	return r.conn, nil
}

// dialError says in words which of the usual ways connecting failed: the
// login refused (RabbitMQ does not tell a wrong user from a wrong password),
// the vhost refused, nothing listening, an unknown or unreachable host.
// TLS failures are left as they are: the caller knows the TLS settings.
func dialError(err error) error {
	var ae *amqp.Error
	var dns *net.DNSError
	switch {
	case errors.As(err, &ae) && ae.Code == amqp.AccessRefused:
		return fmt.Errorf("login refused: wrong user name or password (%w)", err)
	case errors.As(err, &ae) && ae.Code == amqp.NotAllowed:
		return fmt.Errorf("vhost refused: it does not exist, or the user may not use it; check the URL's path and the user's permissions (%w)", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("unreachable: nothing listens there; is RabbitMQ running, and is that its AMQP port? (%w)", err)
	case errors.As(err, &dns):
		return fmt.Errorf("unreachable: unknown host %s (%w)", dns.Name, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("unreachable: no route to the host (%w)", err)
	}
	return err
}
