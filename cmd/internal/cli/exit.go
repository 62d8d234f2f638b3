package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Exit codes, the contract with scripts. When several apply, the highest of
// 1 and 2 wins.
const (
	ExitOK        = 0  // every server answered ok
	ExitFailed    = 1  // some server answered with an error
	ExitSilent    = 2  // some expected server stayed silent, timed out, was down or stopped
	ExitNoMatch   = 3  // no server matched the target
	ExitNoJob     = 4  // job: the results store holds no job of that id
	ExitRunning   = 5  // job: still open (an expected server has no result yet, and the deadline has not passed)
	ExitUsage     = 64 // the command line was wrong (EX_USAGE)
	ExitSoftware  = 70 // an internal error (EX_SOFTWARE)
	ExitTransport = 69 // the transport could not be reached (EX_UNAVAILABLE)
	ExitNameTaken = 75 // topicrpcd: a server of that name is running already (EX_TEMPFAIL)
	ExitCancelled = 130
)

// The range of --timeout: below a millisecond no server can answer (the
// deadline would pass during discovery); above a day is a mistake, and
// past what RabbitMQ's per-message TTL and the deadline header carry well.
const (
	MinTimeout = time.Millisecond
	MaxTimeout = 24 * time.Hour
)

// ExitCode maps a finished call's summary to its exit code.
func ExitCode(s domain.Summary) int {
	switch {
	case s.Reason == domain.DoneCancelled:
		return ExitCancelled
	case s.Reason == domain.NotDone && s.Expected != 0:
		return ExitRunning // a job still open (a call's summary is never open)
	case s.Silent > 0, s.Down > 0, s.Stopped > 0:
		return ExitSilent // none of them ran the command
	case s.Failed > 0:
		return ExitFailed
	case s.Reason == domain.DoneDeadline && s.Replied == 0:
		return ExitSilent // nobody answered and nobody could be named
	}
	return ExitOK
}

// exitError carries an exit code out of a cobra command.
type exitError struct {
	code int
	err  error // nil: nothing more to print
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// codeOf returns the exit code for an error returned by a command.
func codeOf(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, ports.ErrNoRoute):
		return ExitNoMatch
	case errors.Is(err, ports.ErrUnavailable):
		return ExitTransport // the connection broke and did not come back in time
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTransport // the broker did not answer (discovery, sending) within the deadline
	case errors.Is(err, context.Canceled):
		return ExitCancelled
	case errors.Is(err, domain.ErrBadCommand), errors.Is(err, domain.ErrBadKey), errors.Is(err, app.ErrBadTarget):
		return ExitUsage
	}
	return ExitSoftware
}
