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
	return callAt(ctx, c, r, callInfo{target: target, command: cmd, start: time.Now()}, opts...)
}

// callAt runs the call info describes; times are measured from info.start.
func callAt(ctx context.Context, c *app.Client, r renderer, info callInfo, opts ...app.CallOption) (domain.Summary, []domain.Outcome, int) {
	call, err := c.Call(ctx, info.target, info.command, opts...)
	if err != nil {
		err = hintTarget(ctx, c, info.target, err)
		code := codeOf(err)
		r.failure(info, err, code)
		return domain.Summary{}, nil, code
	}
	info.id = call.ID()
	r.begin(info, call)
	hints := commandHinter{ctx: ctx, c: c}
	for reply := range call.Replies() {
		reply = hints.hint(reply, info.command.Name)
		r.reply(info, reply, time.Since(info.start))
	}
	s := call.Summary()
	s.Elapsed = info.elapsed(s)
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
	async      bool
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
		Example: `  topicrpc call group1 echo hello group1
  topicrpc call all fib 30 --timeout 5s --output json
  topicrpc call --any group1 fib 30                   # exactly one server of group1
  id=$(topicrpc call --async all fib 30); topicrpc job --wait $id
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
			if f.async {
				if err := f.checkAsync(); err != nil {
					return err
				}
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return o.withClient(ctx, func(ctx context.Context, c *app.Client) error {
				if f.async {
					return o.runAsync(ctx, c, &f, target, command)
				}
				r, err := o.renderer()
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
	fl.BoolVar(&f.async, "async", false, "send the command as a job and print only its id, at once; read the replies later with topicrpc job ID (--timeout: how long servers may work on it)")
	fl.BoolVar(&f.any, "any", false, "load-balanced: exactly one server of the group TARGET runs the command (at least once)")
	fl.IntVar(&f.expect, "expect", 0, "finish as soon as N servers answered")
	fl.IntVar(&f.limit, "limit", 0, "call only the first N (by name) of the servers the target reaches")
	fl.IntVar(&f.batch, "batch", 0, "call the servers the target reaches N at a time, by name")
	fl.DurationVar(&f.batchWait, "batch-wait", 0, "pause between batches")
	fl.StringVar(&f.retryFrom, "retry-from", "", "call exactly the servers listed in FILE (one name per line; see --save-failed)")
	fl.StringVar(&f.saveFailed, "save-failed", "", "write the servers that failed or stayed silent to FILE, one per line")
	return cmd
}

// runCall runs the call the flags describe and returns its exit code. A
// flag that cannot do what it says is refused before anything is sent.
func (o *options) runCall(ctx context.Context, c *app.Client, r renderer, f *callFlags, target string, cmd domain.Command) (int, error) {
	info := callInfo{target: target, command: cmd, start: time.Now(), balanced: f.any}
	if err := checkWritable(f.saveFailed); err != nil {
		return 0, err
	}
	var opts []app.CallOption
	if f.any {
		if err := o.checkWorkers(ctx, target); err != nil {
			return 0, err
		}
		opts = append(opts, app.Balanced())
	}
	if f.expect > 0 {
		if err := checkExpect(ctx, c, f.expect, target); err != nil {
			return 0, err
		}
		opts = append(opts, app.ExpectCount(f.expect))
	}
	if !f.addressed() {
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		s, outs, code := callAt(cctx, c, r, info, opts...)
		return code, saveFailed(f.saveFailed, s, outs, code)
	}
	servers, err := o.addressees(ctx, c, f, target)
	if err != nil {
		return 0, err
	}
	if len(servers) == 0 {
		err := fmt.Errorf("%w %s", ports.ErrNoRoute, target)
		r.failure(info, err, ExitNoMatch)
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
		s, outs, code := callAt(cctx, c, r, info, append(opts, app.Servers(chunk...))...)
		cancel()
		total = mergeSummaries(total, s, i == 0)
		all = append(all, outs...)
		worst = max(worst, code)
		if ctx.Err() != nil {
			break
		}
	}
	if len(servers) > size {
		batches := info
		batches.id, batches.batches = "batches", true
		r.summary(batches, total, all)
		worst = max(worst, ExitCode(total))
	}
	return worst, saveFailed(f.saveFailed, total, all, worst)
}

// checkExpect refuses --expect N above the number of servers target
// reaches that are up, when that number is known.
func checkExpect(ctx context.Context, c *app.Client, n int, target string) error {
	names, known, err := c.Resolve(ctx, target)
	switch {
	case errors.Is(err, ports.ErrNoRoute):
		return nil // the call says so
	case err != nil, !known:
		return err
	case n > len(names) && len(names) == 0:
		return usageError("--expect %d: %s reaches no server that is up; the call would wait for answers that cannot come (topicrpc servers %s)",
			n, safe(target), safe(target))
	case n > len(names):
		return usageError("--expect %d: %s reaches %d server(s) that are up (%s); the call would wait for answers that cannot come",
			n, safe(target), len(names), strings.Join(safeAll(names), ", "))
	}
	return nil
}

// checkWorkers refuses --any to a group whose workers, by the fleet
// register, are all down or stopped, naming the group and them. A group
// nobody ever worked for is left to the call (no server matched, exit 3).
func (o *options) checkWorkers(ctx context.Context, group string) error {
	reg, ok := o.transport.(ports.Register)
	if !ok || o.discovery == "none" {
		return nil
	}
	k, err := o.keys(o.trustServers, "trust-servers")
	if err != nil {
		return err
	}
	servers, err := app.CensusTrusting(ctx, reg, k.trust()) // with a key, unsigned entries are left out
	if err != nil {
		o.log.Warn("the fleet register cannot be read; cannot tell whether group "+group+" has a live worker", "err", err)
		return nil
	}
	var gone []string
	for _, r := range servers {
		if !slices.Contains(r.WorkGroups, group) {
			continue
		}
		if r.Standing == app.StandingUp {
			return nil
		}
		gone = append(gone, fmt.Sprintf("%s %s", r.Server, r.Standing))
	}
	if len(gone) == 0 {
		return nil
	}
	return &exitError{code: ExitSilent, err: fmt.Errorf("--any %s: no live worker in group %s: %s",
		safe(group), safe(group), strings.Join(safeAll(gone), ", "))}
}

// checkWritable refuses at once a --save-failed FILE that cannot be
// written, rather than after the call.
func checkWritable(path string) error {
	if path == "" {
		return nil
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return usageError("--save-failed: %v", err)
	}
	return fh.Close()
}

// addressees lists the servers an addressed call goes to. With
// --retry-from they are the servers of the file that the target reaches
// and are up (the intersection); the others are named on stderr and left
// out.
func (o *options) addressees(ctx context.Context, c *app.Client, f *callFlags, target string) ([]string, error) {
	names, known, err := c.Resolve(ctx, target)
	switch {
	case errors.Is(err, ports.ErrNoRoute):
		return nil, nil
	case err != nil:
		return nil, err
	case !known && f.retryFrom != "":
		return nil, usageError("--retry-from calls the servers of the file that %s reaches, and who %s reaches is unknown: give --management-url, or run servers that announce their presence", safe(target), safe(target))
	case !known:
		return nil, usageError("--limit and --batch need to know who %s reaches: give --management-url, or run servers that announce their presence", safe(target))
	}
	servers := slices.Clone(names)
	if f.retryFrom != "" {
		listed, err := readNames(f.retryFrom)
		if err != nil {
			return nil, usageError("--retry-from: %v", err)
		}
		var left []string
		servers = slices.DeleteFunc(slices.Clone(listed), func(n string) bool {
			if slices.Contains(names, n) {
				return false
			}
			left = append(left, n)
			return true
		})
		if len(left) > 0 {
			fmt.Fprintf(o.io.Err, "topicrpc: --retry-from %s: not calling %s: not among the servers %s reaches that are up\n",
				safe(f.retryFrom), strings.Join(safeAll(left), ", "), safe(target))
		}
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
	t.Down += s.Down
	t.Stopped += s.Stopped
	t.Unexpected += s.Unexpected
	t.Elapsed = max(t.Elapsed, s.Elapsed) // each measured from the start of the whole call
	t.FailedServers = append(t.FailedServers, s.FailedServers...)
	t.SilentServers = append(t.SilentServers, s.SilentServers...)
	t.TimedOutServers = append(t.TimedOutServers, s.TimedOutServers...)
	t.DownServers = append(t.DownServers, s.DownServers...)
	t.StoppedServers = append(t.StoppedServers, s.StoppedServers...)
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
