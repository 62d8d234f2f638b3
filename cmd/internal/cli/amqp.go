package cli

import (
	"errors"
	"net/url"

	"go.uber.org/fx"
)

// amqpModule provides the AMQP transport. (Wired in with the AMQP adapter.)
func amqpModule(_ *options, rawURL string) (fx.Option, error) {
	return nil, &exitError{code: ExitTransport, err: errors.New("the AMQP transport is not built in yet; use --url memory:// (" + redact(rawURL) + ")")}
}

// redact hides the password of a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
