package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// callLine runs one call and renders it; it returns the call's summary and
// exit code. Errors before the call starts are rendered too.
func callLine(ctx context.Context, c *app.Client, r renderer, target string, cmd domain.Command, opts ...app.CallOption) (domain.Summary, []domain.Outcome, int) {
	info := callInfo{target: target, command: cmd}
	start := time.Now()
	call, err := c.Call(ctx, target, cmd, opts...)
	if err != nil {
		code := codeOf(err)
		r.failure(info, err, code)
		return domain.Summary{}, nil, code
	}
	info.id = call.ID()
	for reply := range call.Replies() {
		r.reply(info, reply, time.Since(start))
	}
	s := call.Summary()
	r.summary(info, s, call.Outcomes())
	return s, call.Outcomes(), ExitCode(s)
}

// parseCallArgs reads "TARGET name|args" given as one or more words.
func parseCallArgs(args []string) (string, domain.Command, error) {
	if len(args) < 2 {
		return "", domain.Command{}, usageError("want TARGET COMMAND, e.g. group1 'echo|hello' (see --help)")
	}
	target := args[0]
	if target == "" {
		return "", domain.Command{}, usageError("empty target: want all, a group or a server name")
	}
	if err := domain.ValidateKey(target); err != nil {
		return "", domain.Command{}, usageError("target: %v", err)
	}
	cmd, err := domain.ParseCommand(strings.Join(args[1:], " "))
	if err != nil {
		return "", domain.Command{}, usageError("%v", err)
	}
	if len(cmd.Args) > app.DefaultMaxArgs {
		return "", domain.Command{}, usageError("args of %s are %d bytes, at most %d allowed", cmd.Name, len(cmd.Args), app.DefaultMaxArgs)
	}
	return target, cmd, nil
}

// callFlags are the ways to shape one call.
type callFlags struct {
	any        bool
	expect     int
	limit      int
	batch      int
	batchWait  time.Duration
	retryFrom  string
	saveFailed string
}

func (f *callFlags) check() error {
	switch {
	case f.expect < 0, f.limit < 0, f.batch < 0, f.batchWait < 0:
		return usageError("--expect, --limit, --batch and --batch-wait take positive values")
	case f.any && (f.limit > 0 || f.batch > 0 || f.retryFrom != "" || f.expect > 0):
		return usageError("--any sends to one server of the group; it does not go with --expect, --limit, --batch or --retry-from")
	case f.batchWait > 0 && f.batch == 0:
		return usageError("--batch-wait goes with --batch N")
	}
	return nil
}

// addressed reports whether the call goes to named servers.
func (f *callFlags) addressed() bool { return f.limit > 0 || f.batch > 0 || f.retryFrom != "" }

func newCallCmd(o *options) *cobra.Command {
	var f callFlags
	cmd := &cobra.Command{
		Use:   "call TARGET COMMAND",
		Short: "Send one command to every server the target reaches and print the replies",
		Long: `Send one command to every server the target reaches and print each reply as it
arrives, then a summary. The call ends as soon as every expected server answered,
or at --timeout, naming the servers that stayed silent.

TARGET is a routing key: all, a group (group1) or a server name (q1).
COMMAND is name|args (echo|hello world) or name args... (fib 30).

Who should answer comes from the transport (memory://, or RabbitMQ with
--management-url), else from the servers' presence announcements; a server that
acknowledged but has no result at the deadline is reported as timed out, one
never heard from as not received.`,
		Example: `  topicrpc call group1 'echo|hello group1 !'
  topicrpc call all 'fib|30' --timeout 5s --output json
  topicrpc call --any group1 'fib|30'                 # exactly one server of group1
  topicrpc call --batch 10 --batch-wait 2s all ping    # ten servers at a time
  topicrpc call --save-failed bad.txt all 'echo|x' ; topicrpc call --retry-from bad.txt all 'echo|x'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, command, err := parseCallArgs(args)
			if err != nil {
				return err
			}
			if err := f.check(); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return o.withClient(ctx, func(ctx context.Context, c *app.Client) error {
				r, err := newRenderer(o.output, o.io.Out)
				if err != nil {
					return err
				}
				code, err := o.runCall(ctx, c, r, &f, target, command)
				if err != nil {
					return err
				}
				if code != ExitOK {
					return &exitError{code: code}
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.any, "any", false, "load-balanced: exactly one server of the group TARGET runs the command (at least once)")
	fl.IntVar(&f.expect, "expect", 0, "finish as soon as N servers answered")
	fl.IntVar(&f.limit, "limit", 0, "call only the first N (by name) of the servers the target reaches")
	fl.IntVar(&f.batch, "batch", 0, "call the servers the target reaches N at a time, by name")
	fl.DurationVar(&f.batchWait, "batch-wait", 0, "pause between batches")
	fl.StringVar(&f.retryFrom, "retry-from", "", "call exactly the servers listed in FILE (one name per line; see --save-failed)")
	fl.StringVar(&f.saveFailed, "save-failed", "", "write the servers that failed or stayed silent to FILE, one per line")
	return cmd
}

// runCall runs the call the flags describe and returns its exit code.
func (o *options) runCall(ctx context.Context, c *app.Client, r renderer, f *callFlags, target string, cmd domain.Command) (int, error) {
	var opts []app.CallOption
	if f.any {
		opts = append(opts, app.Balanced())
	}
	if f.expect > 0 {
		opts = append(opts, app.ExpectCount(f.expect))
	}
	if !f.addressed() {
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		s, outs, code := callLine(cctx, c, r, target, cmd, opts...)
		return code, saveFailed(f.saveFailed, s, outs, code)
	}
	servers, err := o.addressees(ctx, c, f, target)
	if err != nil {
		return 0, err
	}
	if len(servers) == 0 {
		err := fmt.Errorf("%w %s", ports.ErrNoRoute, target)
		r.failure(callInfo{target: target, command: cmd}, err, ExitNoMatch)
		return ExitNoMatch, nil
	}
	size := len(servers)
	if f.batch > 0 {
		size = f.batch
	}
	var total domain.Summary
	var all []domain.Outcome
	worst := ExitOK
	for i := 0; i < len(servers); i += size {
		if i > 0 && f.batchWait > 0 {
			select {
			case <-time.After(f.batchWait):
			case <-ctx.Done():
				return ExitCancelled, nil
			}
		}
		chunk := servers[i:min(i+size, len(servers))]
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		s, outs, code := callLine(cctx, c, r, target, cmd, append(opts, app.Servers(chunk...))...)
		cancel()
		total = mergeSummaries(total, s, i == 0)
		all = append(all, outs...)
		worst = max(worst, code)
		if ctx.Err() != nil {
			break
		}
	}
	if len(servers) > size {
		r.summary(callInfo{id: "batches", target: target, command: cmd}, total, all)
		worst = max(worst, ExitCode(total))
	}
	return worst, saveFailed(f.saveFailed, total, all, worst)
}

// addressees lists the servers an addressed call goes to.
func (o *options) addressees(ctx context.Context, c *app.Client, f *callFlags, target string) ([]string, error) {
	var servers []string
	if f.retryFrom != "" {
		names, err := readNames(f.retryFrom)
		if err != nil {
			return nil, usageError("--retry-from: %v", err)
		}
		servers = names
	} else {
		names, known, err := c.Resolve(ctx, target)
		switch {
		case errors.Is(err, ports.ErrNoRoute):
			return nil, nil
		case err != nil:
			return nil, err
		case !known:
			return nil, usageError("--limit and --batch need to know who %s reaches: give --management-url, or run servers that announce their presence", target)
		}
		servers = slices.Clone(names)
	}
	if f.limit > 0 && len(servers) > f.limit {
		servers = servers[:f.limit]
	}
	return servers, nil
}

func mergeSummaries(t, s domain.Summary, first bool) domain.Summary {
	if first {
		return s
	}
	t.Expected += s.Expected
	t.Replied += s.Replied
	t.OK += s.OK
	t.Failed += s.Failed
	t.NotReceived += s.NotReceived
	t.TimedOut += s.TimedOut
	t.Silent += s.Silent
	t.Unexpected += s.Unexpected
	t.Elapsed += s.Elapsed
	t.FailedServers = append(t.FailedServers, s.FailedServers...)
	t.SilentServers = append(t.SilentServers, s.SilentServers...)
	t.TimedOutServers = append(t.TimedOutServers, s.TimedOutServers...)
	t.UnexpectedServers = append(t.UnexpectedServers, s.UnexpectedServers...)
	t.Reason = max(t.Reason, s.Reason)
	return t
}

// saveFailed writes the failed and silent servers to path, one per line
// (an empty file when there are none), if path is set.
func saveFailed(path string, s domain.Summary, outs []domain.Outcome, code int) error {
	if path == "" || code == ExitNoMatch {
		return nil
	}
	var b strings.Builder
	for _, o := range outs {
		if o.State != domain.StateOK {
			b.WriteString(o.Server + "\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("--save-failed: %w", err)
	}
	return nil
}

// readNames reads server names, one per line; blank lines and # comments are skipped.
func readNames(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var names []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := domain.ValidateKey(line); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		names = append(names, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return names, nil
}
