package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/topicrpc/topicrpc/domain"
)

// renderer prints a call as it goes: each reply as it arrives, then a summary.
type renderer interface {
	// begin is called once the call is under way; p tells where each
	// server stands while it runs.
	begin(c callInfo, p progress)
	reply(c callInfo, r domain.Reply, at time.Duration)
	summary(c callInfo, s domain.Summary, outs []domain.Outcome)
	failure(c callInfo, err error, code int)
}

// progress is where a call's servers stand while it runs (app.Call).
type progress interface {
	Progress(dst []domain.Outcome) []domain.Outcome
}

// callInfo names the call being rendered.
type callInfo struct {
	id      string
	target  string
	command domain.Command
	// start is when the call began, before discovery: replies' times and
	// the summary's elapsed time are measured from it.
	start time.Time
	// batches: the summary is the total of several batches.
	batches bool
	// balanced: --any, one worker of the group target.
	balanced bool
}

// elapsed is the time the summary reports: from the start of the call,
// discovery and batch pauses included, to now; never less than the
// aggregator's own measure.
func (c callInfo) elapsed(s domain.Summary) time.Duration {
	if c.start.IsZero() {
		return s.Elapsed
	}
	return max(s.Elapsed, time.Since(c.start))
}

// renderer makes the renderer the flags and the terminal ask for.
func (o *options) renderer() (renderer, error) {
	r, err := newRenderer(o.output, o.io.Out, o.io.Err, o.detectTerminal())
	if t, ok := r.(*textRenderer); ok && t.live != nil && o.logOut != nil {
		o.logOut.live.Store(t.live)
	}
	return r, err
}

func newRenderer(format string, out, errw io.Writer, tm terminal) (renderer, error) {
	switch format {
	case "text", "":
		t := &textRenderer{w: out, errw: errw, color: tm.color, width: tm.width, names: minNameColumn}
		if tm.live() {
			t.live = &liveLine{w: errw, width: tm.width, color: tm.color}
		}
		return t, nil
	case "json", "jsonl":
		return &jsonRenderer{enc: json.NewEncoder(out), errw: errw}, nil
	}
	return nil, usageError("--output %q: want text or json", format)
}

// noTerminal is the width of an output that is not a terminal.
func noTerminal() int { return 0 }

// minNameColumn is the narrowest the server name column gets.
const minNameColumn = 10

// textRenderer writes one line per reply and the summary to w, errors to
// errw, and, on a terminal, a live status line on errw while a call runs.
type textRenderer struct {
	w, errw io.Writer
	color   bool
	width   func() int // of w in columns; 0: not a terminal
	names   int        // width of the server name column
	live    *liveLine  // nil unless stdout and stderr are terminals
}

func (t *textRenderer) begin(c callInfo, p progress) {
	// Columns fit the longest name of the servers expected.
	for _, o := range p.Progress(nil) {
		t.names = max(t.names, utf8.RuneCountInString(safe(o.Server)))
	}
	if t.live != nil {
		t.live.start(c, p)
	}
}

func (t *textRenderer) reply(_ callInfo, r domain.Reply, at time.Duration) {
	name := safe(r.Server)
	t.names = max(t.names, utf8.RuneCountInString(name))
	st, text := status(r), safe(r.Result)
	if r.Error != "" {
		text = r.Code + ": " + safe(errorText(r))
	}
	// server, status, time, result: the result wraps under itself.
	prefix := fmt.Sprintf("%-*s %-7s %8s  ", t.names, name, st, ms(at))
	lines := wrap(text, t.width()-len(prefix))
	line := fmt.Sprintf("%-*s %s %8s  %s\n", t.names, name, paint(t.color, stateColor(st), fmt.Sprintf("%-7s", st)), ms(at), lines[0])
	for _, l := range lines[1:] {
		line += strings.Repeat(" ", len(prefix)) + l + "\n"
	}
	t.live.pause()
	io.WriteString(t.w, line)
	t.live.resume()
}

// errorText is a reply's error without repeating its code: bad_args
// errors say "bad arguments: …" themselves.
func errorText(r domain.Reply) string {
	if r.Code == domain.CodeBadArgs {
		if rest, ok := strings.CutPrefix(r.Error, "bad arguments: "); ok {
			return rest
		}
	}
	return r.Error
}

// wrap cuts s into lines of at most width runes; one line when width is
// too small to be worth it (not a terminal).
func wrap(s string, width int) []string {
	if width < 20 || utf8.RuneCountInString(s) <= width {
		return []string{s}
	}
	var lines []string
	r := []rune(s)
	for len(r) > width {
		lines = append(lines, string(r[:width]))
		r = r[width:]
	}
	return append(lines, string(r))
}

func (t *textRenderer) summary(c callInfo, s domain.Summary, outs []domain.Outcome) {
	t.live.stop()
	expected := fmt.Sprint(s.Expected)
	if s.Expected < 0 {
		expected = "?"
	}
	label := ""
	if c.batches {
		label = "all batches of "
	}
	skipped := named(outs, domain.StateSkipped)
	pending := named(outs, domain.StatePending) // a job still open
	var b strings.Builder
	fmt.Fprintf(&b, "== %s%s %s: %s expected, %s, %s", label, safe(c.target), safe(c.command.String()), expected,
		t.count(s.OK, "ok", "ok"), t.count(s.Failed, "failed", "failed"))
	for _, n := range []struct {
		n    int
		word string
	}{{s.NotReceived, "not received"}, {s.TimedOut, "timed out"}, {s.Down, "down"}, {s.Stopped, "stopped"}, {len(skipped), "skipped"}, {len(pending), "pending"}} {
		if n.n > 0 {
			fmt.Fprintf(&b, ", %s", t.count(n.n, n.word, n.word))
		}
	}
	if s.Unexpected > 0 {
		fmt.Fprintf(&b, " (%d of them unexpected)", s.Unexpected)
	}
	fmt.Fprintf(&b, " in %s (%s)\n", ms(c.elapsed(s)), strings.ReplaceAll(s.Reason.String(), "_", " "))
	list := func(label string, names []string) {
		if len(names) > 0 {
			fmt.Fprintf(&b, "   %s: %s\n", paint(t.color, stateColor(label), label), strings.Join(safeAll(names), ", "))
		}
	}
	list("failed", s.FailedServers)
	list("not received", named(outs, domain.StateNotReceived))
	list("timed out", s.TimedOutServers)
	list("down", absent(outs, domain.StateDown))
	list("stopped", absent(outs, domain.StateStopped))
	list("skipped", skipped)
	list("pending", pending)
	list("unexpected", s.UnexpectedServers)
	if s.Forged > 0 {
		fmt.Fprintf(&b, "   refused %d unproven repl%s (not signed with the fleet key for this call) claiming: %s\n",
			s.Forged, map[bool]string{true: "y", false: "ies"}[s.Forged == 1], strings.Join(safeAll(s.ForgedClaims), ", "))
	}
	if c.balanced && s.Replied == 0 && s.TimedOut == 0 {
		// Nobody took it: a worker that did is named timed out above.
		fmt.Fprintf(&b, "   no worker of group %s answered nor acknowledged: none is up, or every one is busy or frozen (topicrpc servers %s)\n",
			safe(c.target), safe(c.target))
	}
	io.WriteString(t.w, b.String())
}

// count is "3 ok", coloured when there are some.
func (t *textRenderer) count(n int, word, state string) string {
	s := fmt.Sprintf("%d %s", n, word)
	if n == 0 {
		return s
	}
	return paint(t.color, stateColor(state), s)
}

// named lists the servers of outs in state st.
func named(outs []domain.Outcome, st domain.State) []string {
	var names []string
	for _, o := range outs {
		if o.State == st {
			names = append(names, o.Server)
		}
	}
	return names
}

// absent names the servers of outs in state st, each with when it was last
// seen: "w3 (last seen 2026-11-29 18:50:04 UTC, 2h ago)".
func absent(outs []domain.Outcome, st domain.State) []string {
	var names []string
	for _, o := range outs {
		if o.State != st {
			continue
		}
		if o.LastSeen.IsZero() {
			names = append(names, o.Server)
			continue
		}
		names = append(names, fmt.Sprintf("%s (last seen %s, %s ago)", o.Server,
			o.LastSeen.UTC().Format("2006-01-02 15:04:05 MST"), time.Since(o.LastSeen).Round(time.Second)))
	}
	return names
}

// failure goes to stderr: stdout carries only results and summaries.
func (t *textRenderer) failure(_ callInfo, err error, _ int) {
	t.live.stop()
	fmt.Fprintf(t.errw, "topicrpc: %s\n", safe(err.Error()))
}

// jsonRenderer writes JSON Lines to stdout; an error is also one line on
// stderr.
type jsonRenderer struct {
	enc  *json.Encoder
	errw io.Writer
}

func (j *jsonRenderer) begin(callInfo, progress) {}

type jsonReply struct {
	Type     string  `json:"type"`
	Call     string  `json:"call"`
	Target   string  `json:"target"`
	Server   string  `json:"server"`
	Status   string  `json:"status"`
	MS       float64 `json:"ms"`
	Result   *string `json:"result,omitempty"`
	Code     string  `json:"code,omitempty"`
	Error    string  `json:"error,omitempty"`
	ServerMS float64 `json:"server_ms"`
}

type jsonServer struct {
	Server   string  `json:"server"`
	State    string  `json:"state"`
	Expected bool    `json:"expected"`
	MS       float64 `json:"ms"`
	// LastSeen is when a down or stopped server was last known up.
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

type jsonSummary struct {
	Type     string `json:"type"`
	Call     string `json:"call"`
	Target   string `json:"target"`
	Command  string `json:"command"`
	Expected int    `json:"expected"`
	Replied  int    `json:"replied"`
	OK       int    `json:"ok"`
	Failed   int    `json:"failed"`
	// Silent is not_received + timed_out, kept for scripts written before
	// those two existed: each server is counted once in the states.
	Silent             int          `json:"silent"`
	NotReceived        int          `json:"not_received"`
	TimedOut           int          `json:"timed_out"`
	Forged             int          `json:"forged"`
	ForgedClaims       []string     `json:"forged_claims"`
	Down               int          `json:"down"`
	Stopped            int          `json:"stopped"`
	Skipped            int          `json:"skipped"`
	Pending            int          `json:"pending"` // a job still open: servers without a result yet
	Unexpected         int          `json:"unexpected"`
	ElapsedMS          float64      `json:"elapsed_ms"`
	Reason             string       `json:"reason"`
	ExitCode           int          `json:"exit_code"`
	FailedServers      []string     `json:"failed_servers"`
	SilentServers      []string     `json:"silent_servers"` // not_received_servers and timed_out_servers
	NotReceivedServers []string     `json:"not_received_servers"`
	TimedOutServers    []string     `json:"timed_out_servers"`
	DownServers        []string     `json:"down_servers"`
	StoppedServers     []string     `json:"stopped_servers"`
	SkippedServers     []string     `json:"skipped_servers"`
	PendingServers     []string     `json:"pending_servers"`
	UnexpectedServers  []string     `json:"unexpected_servers"`
	Servers            []jsonServer `json:"servers"`
}

func (j *jsonRenderer) reply(c callInfo, r domain.Reply, at time.Duration) {
	out := jsonReply{Type: "reply", Call: c.id, Target: c.target, Server: r.Server, Status: "ok",
		MS: msf(at), ServerMS: msf(r.Elapsed)}
	if r.Error != "" {
		out.Status, out.Code, out.Error = status(r), r.Code, r.Error
	} else {
		out.Result = &r.Result
	}
	_ = j.enc.Encode(out)
}

func (j *jsonRenderer) summary(c callInfo, s domain.Summary, outs []domain.Outcome) {
	out := jsonSummary{Type: "summary", Call: c.id, Target: c.target, Command: c.command.String(),
		Expected: s.Expected, Replied: s.Replied, OK: s.OK, Failed: s.Failed, Silent: s.Silent,
		NotReceived: s.NotReceived, TimedOut: s.TimedOut, Down: s.Down, Stopped: s.Stopped, Unexpected: s.Unexpected,
		ElapsedMS: msf(c.elapsed(s)), Reason: s.Reason.String(), ExitCode: ExitCode(s),
		FailedServers: nonNil(s.FailedServers), SilentServers: nonNil(s.SilentServers),
		NotReceivedServers: nonNil(named(outs, domain.StateNotReceived)),
		SkippedServers:     nonNil(named(outs, domain.StateSkipped)),
		PendingServers:     nonNil(named(outs, domain.StatePending)),
		TimedOutServers:    nonNil(s.TimedOutServers), DownServers: nonNil(s.DownServers),
		StoppedServers: nonNil(s.StoppedServers), UnexpectedServers: nonNil(s.UnexpectedServers),
		Forged: s.Forged, ForgedClaims: nonNil(s.ForgedClaims),
		Servers: make([]jsonServer, 0, len(outs))}
	out.Skipped, out.Pending = len(out.SkippedServers), len(out.PendingServers)
	for _, o := range outs {
		js := jsonServer{Server: o.Server, State: o.State.String(), Expected: o.Expected, MS: msf(o.Latency)}
		if !o.LastSeen.IsZero() {
			seen := o.LastSeen.UTC()
			js.LastSeen = &seen
		}
		out.Servers = append(out.Servers, js)
	}
	_ = j.enc.Encode(out)
}

func (j *jsonRenderer) failure(c callInfo, err error, code int) {
	_ = j.enc.Encode(struct {
		Type     string `json:"type"`
		Target   string `json:"target"`
		Command  string `json:"command"`
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}{"error", c.target, c.command.String(), err.Error(), code})
	fmt.Fprintf(j.errw, "topicrpc: %s\n", safe(err.Error()))
}

// status names a result: ok, error, or timeout when the handler ran out of
// the caller's time.
func status(r domain.Reply) string {
	switch {
	case r.Error == "":
		return "ok"
	case r.Code == domain.CodeDeadline:
		return "timeout"
	}
	return "error"
}

func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", msf(d))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0fms", msf(d))
	}
	return d.Round(100 * time.Millisecond).String()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
