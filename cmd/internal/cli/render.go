package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// renderer prints a call as it goes: each reply as it arrives, then a summary.
type renderer interface {
	reply(c callInfo, r domain.Reply, at time.Duration)
	summary(c callInfo, s domain.Summary, outs []domain.Outcome)
	failure(c callInfo, err error, code int)
}

// callInfo names the call being rendered.
type callInfo struct {
	id      string
	target  string
	command domain.Command
}

func newRenderer(format string, w io.Writer) (renderer, error) {
	switch format {
	case "text", "":
		return &textRenderer{w: w}, nil
	case "json", "jsonl":
		return &jsonRenderer{enc: json.NewEncoder(w)}, nil
	}
	return nil, usageError("--output %q: want text or json", format)
}

type textRenderer struct{ w io.Writer }

func (t *textRenderer) reply(_ callInfo, r domain.Reply, at time.Duration) {
	if r.Error != "" {
		fmt.Fprintf(t.w, "%-10s %-6s %8s  %s: %s\n", r.Server, status(r), ms(at), r.Code, oneLine(r.Error))
		return
	}
	fmt.Fprintf(t.w, "%-10s ok     %8s  %s\n", r.Server, ms(at), r.Result)
}

func (t *textRenderer) summary(c callInfo, s domain.Summary, outs []domain.Outcome) {
	expected := fmt.Sprint(s.Expected)
	if s.Expected < 0 {
		expected = "?"
	}
	label := ""
	if c.id == "batches" {
		label = "all batches of "
	}
	fmt.Fprintf(t.w, "== %s%s %s: %s expected, %d ok, %d failed, %d silent", label, c.target, c.command, expected, s.OK, s.Failed, s.Silent)
	if s.Down > 0 {
		fmt.Fprintf(t.w, ", %d down", s.Down)
	}
	if s.Stopped > 0 {
		fmt.Fprintf(t.w, ", %d stopped", s.Stopped)
	}
	if s.Unexpected > 0 {
		fmt.Fprintf(t.w, ", %d unexpected", s.Unexpected)
	}
	fmt.Fprintf(t.w, " in %s (%s)\n", ms(s.Elapsed), strings.ReplaceAll(s.Reason.String(), "_", " "))
	list := func(label string, names []string) {
		if len(names) > 0 {
			fmt.Fprintf(t.w, "   %s: %s\n", label, strings.Join(names, ", "))
		}
	}
	list("failed", s.FailedServers)
	var notReceived []string
	for _, n := range s.SilentServers {
		if !slices.Contains(s.TimedOutServers, n) {
			notReceived = append(notReceived, n)
		}
	}
	list("no response from", notReceived)
	list("timed out", s.TimedOutServers)
	list("down", absent(outs, domain.StateDown))
	list("stopped", absent(outs, domain.StateStopped))
	list("unexpected", s.UnexpectedServers)
	if s.Forged > 0 {
		fmt.Fprintf(t.w, "   refused %d unproven repl%s (not signed with the fleet key for this call) claiming: %s\n",
			s.Forged, map[bool]string{true: "y", false: "ies"}[s.Forged == 1], strings.Join(s.ForgedClaims, ", "))
	}
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

func (t *textRenderer) failure(c callInfo, err error, _ int) {
	fmt.Fprintf(t.w, "== %s %s: %v\n", c.target, c.command, err)
}

type jsonRenderer struct{ enc *json.Encoder }

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
	Type              string       `json:"type"`
	Call              string       `json:"call"`
	Target            string       `json:"target"`
	Command           string       `json:"command"`
	Expected          int          `json:"expected"`
	Replied           int          `json:"replied"`
	OK                int          `json:"ok"`
	Failed            int          `json:"failed"`
	Silent            int          `json:"silent"`
	NotReceived       int          `json:"not_received"`
	TimedOut          int          `json:"timed_out"`
	Forged            int          `json:"forged"`
	ForgedClaims      []string     `json:"forged_claims"`
	Down              int          `json:"down"`
	Stopped           int          `json:"stopped"`
	Unexpected        int          `json:"unexpected"`
	ElapsedMS         float64      `json:"elapsed_ms"`
	Reason            string       `json:"reason"`
	ExitCode          int          `json:"exit_code"`
	FailedServers     []string     `json:"failed_servers"`
	SilentServers     []string     `json:"silent_servers"`
	TimedOutServers   []string     `json:"timed_out_servers"`
	DownServers       []string     `json:"down_servers"`
	StoppedServers    []string     `json:"stopped_servers"`
	UnexpectedServers []string     `json:"unexpected_servers"`
	Servers           []jsonServer `json:"servers"`
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
		ElapsedMS: msf(s.Elapsed), Reason: s.Reason.String(), ExitCode: ExitCode(s),
		FailedServers: nonNil(s.FailedServers), SilentServers: nonNil(s.SilentServers),
		TimedOutServers: nonNil(s.TimedOutServers), DownServers: nonNil(s.DownServers),
		StoppedServers: nonNil(s.StoppedServers), UnexpectedServers: nonNil(s.UnexpectedServers),
		Forged: s.Forged, ForgedClaims: nonNil(s.ForgedClaims),
		Servers: make([]jsonServer, 0, len(outs))}
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

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
