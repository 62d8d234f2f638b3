package web

import (
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// The JSON of a call's events. Results travel as text and are shown as
// text: the page never reads them as HTML.

type beginView struct {
	ID        string        `json:"id"`
	Call      string        `json:"call"`          // the correlation id
	Job       string        `json:"job,omitempty"` // its page in the results store, when there is one
	Target    string        `json:"target"`
	Command   string        `json:"command"`
	Any       bool          `json:"any"`
	Expect    int           `json:"expect"`
	TimeoutMS float64       `json:"timeout_ms"`
	Servers   []serverState `json:"servers"` // expected, as known when it began
}

type progressView struct {
	ElapsedMS float64       `json:"elapsed_ms"`
	Servers   []serverState `json:"servers"`
}

// replyView is one server's result, as it arrived.
type replyView struct {
	Server   string  `json:"server"`
	State    string  `json:"state"` // ok, error, or timeout (the handler ran out of time)
	Result   string  `json:"result"`
	Code     string  `json:"code,omitempty"`
	Error    string  `json:"error,omitempty"`
	AtMS     float64 `json:"at_ms"`     // since the call began
	ServerMS float64 `json:"server_ms"` // as the server measured it
}

// serverState is where one server stands in a call.
type serverState struct {
	Server string `json:"server"`
	// State is the outcome's stable name (domain.State), or, while the
	// call runs, waiting (no word yet) or working (acknowledged).
	State string `json:"state"`
	// Label says it in words: silent for a server never heard from.
	Label     string     `json:"label"`
	Expected  bool       `json:"expected"`
	AckedMS   float64    `json:"acked_ms,omitempty"`
	LatencyMS float64    `json:"latency_ms,omitempty"`
	Result    string     `json:"result,omitempty"`
	Code      string     `json:"code,omitempty"`
	Error     string     `json:"error,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

type summaryView struct {
	Expected    int           `json:"expected"` // -1: unknown
	Replied     int           `json:"replied"`
	OK          int           `json:"ok"`
	Failed      int           `json:"failed"`
	NotReceived int           `json:"not_received"`
	TimedOut    int           `json:"timed_out"`
	Silent      int           `json:"silent"`
	Down        int           `json:"down"`
	Stopped     int           `json:"stopped"`
	Unexpected  int           `json:"unexpected"`
	Forged      int           `json:"forged"`
	ElapsedMS   float64       `json:"elapsed_ms"`
	Reason      string        `json:"reason"`
	Text        string        `json:"text"` // the summary in one line
	Servers     []serverState `json:"servers"`
}

func replyOf(r domain.Reply, at time.Duration) replyView {
	v := replyView{Server: r.Server, State: "ok", Result: r.Result, AtMS: ms(at), ServerMS: ms(r.Elapsed)}
	if r.Error != "" {
		v.State, v.Code, v.Error = "error", r.Code, r.Error
		if r.Code == domain.CodeDeadline {
			v.State = "timeout"
		}
	}
	return v
}

// labels name the states for people.
var labels = map[domain.State]string{
	domain.StateOK:          "ok",
	domain.StateError:       "error",
	domain.StateNotReceived: "silent (not received)",
	domain.StateTimedOut:    "timed out (acknowledged, no result)",
	domain.StateSkipped:     "skipped (enough results)",
	domain.StateDown:        "down (not waited for)",
	domain.StateStopped:     "stopped (not waited for)",
}

// states describes outs, times measured from start.
func states(outs []domain.Outcome, start time.Time) []serverState {
	out := make([]serverState, 0, len(outs))
	for _, o := range outs {
		s := serverState{Server: o.Server, State: o.State.String(), Label: labels[o.State], Expected: o.Expected}
		if o.State == domain.StatePending {
			s.State, s.Label = "waiting", "waiting"
			if o.Acked {
				s.State, s.Label = "working", "working (acknowledged)"
			}
		}
		if !o.AckedAt.IsZero() {
			s.AckedMS = ms(o.AckedAt.Sub(start))
		}
		if o.State != domain.StatePending {
			s.LatencyMS = ms(o.Latency)
		}
		if o.State == domain.StateOK || o.State == domain.StateError {
			s.Result, s.Code, s.Error = o.Reply.Result, o.Reply.Code, o.Reply.Error
		}
		if !o.LastSeen.IsZero() {
			seen := o.LastSeen.UTC()
			s.LastSeen = &seen
		}
		out = append(out, s)
	}
	return out
}

func summaryOf(s domain.Summary, outs []domain.Outcome, start time.Time) *summaryView {
	return &summaryView{Expected: s.Expected, Replied: s.Replied, OK: s.OK, Failed: s.Failed,
		NotReceived: s.NotReceived, TimedOut: s.TimedOut, Silent: s.Silent, Down: s.Down, Stopped: s.Stopped,
		Unexpected: s.Unexpected, Forged: s.Forged, ElapsedMS: ms(s.Elapsed), Reason: s.Reason.String(),
		Text: summaryText(s), Servers: states(outs, start)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
