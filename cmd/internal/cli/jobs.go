package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// Jobs: call --async, job ID, jobs. A job is a call kept in the results
// store (app.Jobs): shown by `job` exactly as `call` shows a call, with the
// same renderers and exit codes, plus ExitRunning while it is open.

// runAsync sends the call as a job and prints its id alone on stdout.
func (o *options) runAsync(ctx context.Context, c *app.Client, f *callFlags, target string, cmd domain.Command) error {
	var opts []app.CallOption
	if f.any {
		if err := o.checkWorkers(ctx, target); err != nil {
			return err
		}
		opts = append(opts, app.Balanced())
	}
	if f.expect > 0 {
		opts = append(opts, app.ExpectCount(f.expect))
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	id, err := c.Submit(cctx, target, cmd, opts...)
	if err != nil {
		err = hintTarget(ctx, c, target, err)
		return &exitError{code: codeOf(err), err: err}
	}
	fmt.Fprintln(o.io.Out, id)
	return nil
}

// checkAsync refuses flags that need the caller to stay.
func (f *callFlags) checkAsync() error {
	if f.addressed() || f.saveFailed != "" {
		return usageError("--async returns at once: it does not go with --limit, --batch, --retry-from or --save-failed")
	}
	return nil
}

// jobsOf returns the client's jobs, or a usage error when the transport
// keeps none.
func jobsOf(c *app.Client) (*app.Jobs, error) {
	jobs, err := c.Jobs()
	if err != nil {
		return nil, usageError("%v", err)
	}
	return jobs, nil
}

func newJobCmd(o *options) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "job ID",
		Short: "Show a job's replies and every server's state, as call shows a call",
		Long: `Show the job ID (what call --async printed, or the call field of call's JSON
output) as call shows a call: each server's result, then the summary, with the
same exit codes. Replies that came after the call ended are there: servers
store each acknowledgement and result in the results store on the broker.

While an expected server has no result and the call's deadline has not passed
the job is open: it shows them pending and exits 5. With --wait it follows the
job until every expected server has answered, or --timeout (then those still
missing are not received or timed out, exit 2).

An id the store does not hold (never recorded, or past the store's bounds)
exits 4.`,
		Example: `  id=$(topicrpc call --async all fib 30) && topicrpc job --wait $id
  topicrpc job 6a2c1f0e1b2c3d4e5f60-1 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := domain.ValidateJobID(id); err != nil {
				return usageError("%v", err)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			o.readsJobs = true
			return o.withClient(ctx, func(ctx context.Context, c *app.Client) error {
				jobs, err := jobsOf(c)
				if err != nil {
					return err
				}
				r, err := newRenderer(o.output, o.io.Out, o.io.Err, o.detectTerminal())
				if err != nil {
					return err
				}
				if t, ok := r.(*textRenderer); ok {
					t.live = nil // the job's states are printed, not redrawn
				}
				code, err := showJob(ctx, jobs, r, id, wait, o.timeout)
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
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the job until every expected server has answered, or --timeout")
	return cmd
}

// showJob renders job id, following it with wait, and returns the exit code.
func showJob(ctx context.Context, jobs *app.Jobs, r renderer, id string, wait bool, timeout time.Duration) (int, error) {
	var until time.Time
	if wait {
		until = time.Now().Add(timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	var last *domain.Job
	var info callInfo
	printed := 0
	show := func(job *domain.Job, v domain.JobView) {
		if last == nil {
			c := &job.Call
			info = callInfo{id: job.ID, target: c.Target, command: c.Command, balanced: c.Balanced}
			r.begin(info, staticProgress(v.Outcomes))
		}
		last = job
		for _, res := range v.Results[printed:] {
			r.reply(info, res.Reply, res.At)
		}
		printed = len(v.Results)
	}
	var view domain.JobView
	err := jobs.Follow(ctx, id, func(job *domain.Job) bool {
		view = jobs.View(job, until)
		show(job, view)
		return wait && view.Open
	})
	switch {
	case errors.Is(err, app.ErrNoJob):
		err = fmt.Errorf("job %s: no such job in the results store (never recorded, or older than what the store keeps)", id)
		r.failure(callInfo{id: id}, err, ExitNoJob) // one line on stderr (and, in JSON, an error object)
		return ExitNoJob, nil
	case err != nil && last != nil && wait && ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		view = jobs.View(last, time.Time{}) // --timeout: whoever is missing now is silent
		show(last, view)
	case err != nil:
		return 0, err
	}
	r.summary(info, view.Summary, view.Outcomes)
	return ExitCode(view.Summary), nil
}

// staticProgress is a job's states as read: what a renderer sizes its
// columns by.
type staticProgress []domain.Outcome

func (p staticProgress) Progress(dst []domain.Outcome) []domain.Outcome { return append(dst, p...) }

// jobsFlags choose the jobs listed.
type jobsFlags struct {
	limit  int
	since  string
	target string
}

func newJobsCmd(o *options) *cobra.Command {
	var f jobsFlags
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List recent jobs, newest first",
		Long: `List the jobs in the results store, newest first: id, when it was sent, the
caller where known, target, command, and how many servers stand in each state
(pending while the job is open). Calls are jobs when sent with call --async,
or recorded (call --record, the default).`,
		Example: `  topicrpc jobs
  topicrpc jobs --since 1h --target group1 --limit 50 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.filter(time.Now())
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			o.readsJobs = true
			return o.withClient(ctx, func(ctx context.Context, c *app.Client) error {
				jobs, err := jobsOf(c)
				if err != nil {
					return err
				}
				list, err := jobs.List(ctx, filter)
				if err != nil {
					return err
				}
				if o.output == "json" || o.output == "jsonl" {
					return writeJobsJSON(o.io.Out, list)
				}
				return writeJobsText(o.io.Out, list)
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.limit, "limit", 20, "list at most N jobs (0: all)")
	fl.StringVar(&f.since, "since", "24h", "only jobs sent since then: a duration back from now (90m, 24h) or a time (2026-11-29T21:00:00Z)")
	fl.StringVar(&f.target, "target", "", "only jobs sent to exactly this target")
	return cmd
}

// filter reads the flags at now.
func (f *jobsFlags) filter(now time.Time) (app.JobFilter, error) {
	if f.limit < 0 {
		return app.JobFilter{}, usageError("--limit %d: want 0 (all) or more", f.limit)
	}
	out := app.JobFilter{Limit: f.limit, Target: f.target}
	if f.target != "" {
		if err := domain.ValidateKey(f.target); err != nil {
			return app.JobFilter{}, usageError("--target: %v", err)
		}
	}
	switch d, err := time.ParseDuration(f.since); {
	case f.since == "" || f.since == "0":
	case err == nil && d >= 0:
		out.Since = now.Add(-d)
	default:
		t, terr := time.Parse(time.RFC3339, f.since)
		if terr != nil {
			return app.JobFilter{}, usageError("--since %q: want a duration back from now (24h) or a time (2026-11-29T21:00:00Z)", f.since)
		}
		out.Since = t
	}
	return out, nil
}

// jobStates is "2 ok, 1 failed, 1 pending": the states a job's servers
// stand in, in the order call's summary names them.
func jobStates(c domain.Counts) string {
	var parts []string
	for _, st := range []domain.State{domain.StateOK, domain.StateError, domain.StateNotReceived, domain.StateTimedOut,
		domain.StateDown, domain.StateStopped, domain.StateSkipped, domain.StatePending} {
		if n := c[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(stateWord(st), "_", " ")))
		}
	}
	if len(parts) == 0 {
		return "no server"
	}
	return strings.Join(parts, ", ")
}

func stateWord(st domain.State) string {
	if st == domain.StateError {
		return "failed"
	}
	return st.String()
}

func writeJobsText(w io.Writer, list []app.JobEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSENT\tCALLER\tTARGET\tCOMMAND\tSERVERS")
	for _, e := range list {
		caller := e.Caller
		if caller == "" {
			caller = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safe(e.ID), e.Sent.Local().Format("2006-01-02 15:04:05"),
			safe(caller), safe(e.Target), safe(clipText(e.Command.String(), 40)), jobStates(e.Counts))
	}
	return tw.Flush()
}

// clipText cuts s to n runes, marking the cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

type jsonJob struct {
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	Sent        time.Time `json:"sent"`
	Caller      string    `json:"caller"`
	Target      string    `json:"target"`
	Command     string    `json:"command"`
	Async       bool      `json:"async"`
	Open        bool      `json:"open"`
	Expected    int       `json:"expected"`
	OK          int       `json:"ok"`
	Failed      int       `json:"failed"`
	NotReceived int       `json:"not_received"`
	TimedOut    int       `json:"timed_out"`
	Down        int       `json:"down"`
	Stopped     int       `json:"stopped"`
	Skipped     int       `json:"skipped"`
	Pending     int       `json:"pending"`
	Forged      int       `json:"forged"`
	ExitCode    int       `json:"exit_code"`
}

func writeJobsJSON(w io.Writer, list []app.JobEntry) error {
	enc := json.NewEncoder(w)
	for _, e := range list {
		c := e.Counts
		err := enc.Encode(jsonJob{Type: "job", ID: e.ID, Sent: e.Sent.UTC(), Caller: e.Caller, Target: e.Target,
			Command: e.Command.String(), Async: e.Async, Open: e.Open, Expected: e.Summary.Expected,
			OK: c[domain.StateOK], Failed: c[domain.StateError], NotReceived: c[domain.StateNotReceived],
			TimedOut: c[domain.StateTimedOut], Down: c[domain.StateDown], Stopped: c[domain.StateStopped],
			Skipped: c[domain.StateSkipped], Pending: c[domain.StatePending], Forged: e.Summary.Forged,
			ExitCode: ExitCode(e.Summary)})
		if err != nil {
			return err
		}
	}
	return nil
}
