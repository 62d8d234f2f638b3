package cli

import (
	"strings"

	"go.uber.org/dig"
)

// transportError is the exit-69 error for a transport that could not be
// reached or set up, as one line: action ("start q1"; may be empty), the
// root cause without fx's wrapping, the redacted URL once (the URLs of a
// list are named each with its own reason by the cause), and a hint for
// the usual TLS mistakes. errors.Is and errors.As still reach the cause.
func (o *options) transportError(action, rawURL string, err error) error {
	root := dig.RootCause(err)
	msg := root.Error()
	if where := redact(rawURL); !strings.Contains(msg, where) && !strings.Contains(msg, "brokers") {
		msg = "connect to " + where + ": " + msg
	}
	if action != "" {
		msg = action + ": " + msg
	}
	if hint := tlsHint(root, usesTLS(rawURL, "amqps"), o.tls.cert != ""); hint != "" {
		msg += " (" + hint + ")"
	}
	msg = strings.ReplaceAll(msg, "\n", "; ")
	return &exitError{code: ExitTransport, err: &causeError{msg: msg, cause: root}}
}

// causeError is an error message standing for cause.
type causeError struct {
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.cause }
