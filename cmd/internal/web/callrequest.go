package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// CallRequest is a call the page asks for: the form's fields target and
// command, and the options any, expect and timeout, as the command line's
// call takes them.
type CallRequest struct {
	Target  string
	Command domain.Command
	// Any sends to one worker of the group Target (--any).
	Any bool
	// Expect ends the call at that many results (--expect); 0: all.
	Expect int
	// Timeout is the call's deadline from its start.
	Timeout time.Duration
}

// parseCall reads a call from the posted form; the error is one line for
// the person who typed it.
func (c *Console) parseCall(r *http.Request) (CallRequest, error) {
	var req CallRequest
	if err := r.ParseForm(); err != nil {
		return req, fmt.Errorf("the form cannot be read: %w", err)
	}
	req.Target = strings.TrimSpace(r.PostFormValue("target"))
	if req.Target == "" {
		return req, fmt.Errorf("empty target: want all, a group or a server name")
	}
	if err := domain.ValidateTarget(req.Target); err != nil {
		return req, fmt.Errorf("target: %w", err)
	}
	cmd, err := domain.ParseCommand(strings.TrimSpace(r.PostFormValue("command")))
	if err != nil {
		return req, err
	}
	if len(cmd.Args) > app.DefaultMaxArgs {
		return req, fmt.Errorf("args of %s are %d bytes, at most %d allowed", cmd.Name, len(cmd.Args), app.DefaultMaxArgs)
	}
	req.Command = cmd
	req.Any = formBool(r.PostFormValue("any"))
	if s := strings.TrimSpace(r.PostFormValue("expect")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return req, fmt.Errorf("expect %q: want a number of servers, 0 for all", s)
		}
		req.Expect = n
	}
	if req.Any && req.Expect > 0 {
		return req, fmt.Errorf("any sends to one server of the group; it does not go with expect")
	}
	req.Timeout = c.cfg.Timeout
	if s := strings.TrimSpace(r.PostFormValue("timeout")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < c.cfg.MinTimeout || d > c.cfg.MaxTimeout {
			return req, fmt.Errorf("timeout %q: want a duration from %s to %s, like 5s", s, c.cfg.MinTimeout, c.cfg.MaxTimeout)
		}
		req.Timeout = d
	}
	return req, nil
}

// options are the call options req asks for.
func (req CallRequest) options() []app.CallOption {
	var opts []app.CallOption
	if req.Any {
		opts = append(opts, app.Balanced())
	}
	if req.Expect > 0 {
		opts = append(opts, app.ExpectCount(req.Expect))
	}
	return opts
}
