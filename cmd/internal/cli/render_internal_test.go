package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// A call that found servers down and stopped names each with when it was
// last seen, in text and JSON, and exits 2: none of them ran the command.
func TestSummaryNamesDownAndStoppedServers(t *testing.T) {
	t.Parallel()
	start := time.Now()
	seen := start.Add(-90 * time.Second)
	a := domain.NewAggregator(domain.Expectation{Known: true, Servers: []string{"w2"}, Absent: []domain.Absence{
		{Server: "w3", State: domain.StateDown, LastSeen: seen},
		{Server: "w4", State: domain.StateStopped, LastSeen: seen},
	}}, start, start.Add(time.Second))
	a.Observe(domain.Reply{Server: "w2", Kind: domain.KindResult, Result: "x"}, start)
	s := a.Finish(start)
	c := callInfo{id: "c1", target: "gb", command: domain.Command{Name: "echo", Args: "x"}}

	if code := ExitCode(s); code != ExitSilent {
		t.Errorf("exit %d, want %d", code, ExitSilent)
	}
	var text bytes.Buffer
	(&textRenderer{w: &text, width: noTerminal}).summary(c, s, a.Outcomes())
	for _, want := range []string{"3 expected, 1 ok, 0 failed, 1 down, 1 stopped in",
		"   down: w3 (last seen ", "   stopped: w4 (last seen ", "1m30s ago)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}

	var js bytes.Buffer
	(&jsonRenderer{enc: json.NewEncoder(&js), errw: &text}).summary(c, s, a.Outcomes())
	var got struct {
		Down, Stopped  int
		DownServers    []string `json:"down_servers"`
		StoppedServers []string `json:"stopped_servers"`
		ExitCode       int      `json:"exit_code"`
		Servers        []struct {
			Server, State string
			LastSeen      *time.Time `json:"last_seen"`
		}
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Down != 1 || got.Stopped != 1 || got.DownServers[0] != "w3" || got.StoppedServers[0] != "w4" || got.ExitCode != ExitSilent {
		t.Errorf("JSON summary %s", js.String())
	}
	for _, srv := range got.Servers {
		if absent := srv.State == "down" || srv.State == "stopped"; absent != (srv.LastSeen != nil) {
			t.Errorf("%s (%s): last_seen %v", srv.Server, srv.State, srv.LastSeen)
		} else if absent && !srv.LastSeen.Equal(seen.UTC()) {
			t.Errorf("%s: last_seen %v, want %v", srv.Server, srv.LastSeen, seen)
		}
	}
}

// A server name, an error or a result with control characters, or bytes
// that are not UTF-8, is escaped in text output.
func TestTextEscapesEverythingAServerSends(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	r := &textRenderer{w: &out, errw: &out, width: noTerminal, names: minNameColumn}
	c := callInfo{target: "all", command: domain.Command{Name: "echo"}, start: time.Now()}
	r.reply(c, domain.Reply{Server: "q\x1b]0;owned\x07", Kind: domain.KindResult, Result: "a\tb\xffc\x7f"}, time.Millisecond)
	r.reply(c, domain.Reply{Server: "q2", Kind: domain.KindResult, Code: domain.CodeFailed, Error: "bad\r\n== fake"}, time.Millisecond)
	got := out.String()
	for _, want := range []string{`q\x1b]0;owned\x07`, `a\tb\xffc\x7f`, `failed: bad\r\n== fake`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
	if strings.ContainsAny(got, "\x1b\x07\r\t\x7f") || strings.Count(got, "\n") != 2 {
		t.Errorf("raw control characters, or more than 2 lines:\n%q", got)
	}
}

// bad_args errors say "bad arguments" once.
func TestBadArgsSaidOnce(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	r := &textRenderer{w: &out, errw: &out, width: noTerminal, names: minNameColumn}
	r.reply(callInfo{}, domain.Reply{Server: "q1", Kind: domain.KindResult, Code: domain.CodeBadArgs,
		Error: "bad arguments: fib of a negative number (-3)"}, time.Millisecond)
	if got := out.String(); !strings.Contains(got, "bad_args: fib of a negative number (-3)\n") || strings.Count(got, "bad") != 1 {
		t.Errorf("got %q", got)
	}
}

// The live line says how many answered of how many, who works and for how
// long, who has not acknowledged, and who is down; it is cut to the width.
func TestLiveText(t *testing.T) {
	t.Parallel()
	now := time.Now()
	outs := []domain.Outcome{
		{Server: "a", Expected: true, State: domain.StateOK},
		{Server: "b", Expected: true, Acked: true, AckedAt: now.Add(-1500 * time.Millisecond)},
		{Server: "c\x1b", Expected: true},
		{Server: "d", Expected: true, State: domain.StateDown},
		{Server: "e", Expected: true, State: domain.StateError},
	}
	want := `2/5 answered (1 down) · working: b 1.5s · no ack yet: c\x1b · 2.0s`
	if got := liveText(outs, 2*time.Second, now); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := liveText(outs[:1], 0, now); got != "1/1 answered · 0.0s" {
		t.Errorf("got %q", got)
	}
	if got := liveText([]domain.Outcome{{Server: "x", State: domain.StateOK}}, 0, now); got != "1/? answered · 0.0s" {
		t.Errorf("unknown expected set: got %q", got)
	}
	if got := cut(want, 20); got != "2/5 answered (1 dow…" {
		t.Errorf("cut: %q", got)
	}
}

type fixedProgress []domain.Outcome

func (p fixedProgress) Progress(dst []domain.Outcome) []domain.Outcome { return append(dst, p...) }

// The server column is as wide as the longest name expected, so that every
// reply's status and time line up.
func TestColumnsFitTheLongestName(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	r := &textRenderer{w: &out, errw: &out, width: noTerminal, names: minNameColumn}
	c := callInfo{target: "all", command: domain.Command{Name: "echo"}, start: time.Now()}
	long := "payments-worker-eu-west-1"
	r.begin(c, fixedProgress{{Server: "q1", Expected: true}, {Server: long, Expected: true}})
	r.reply(c, domain.Reply{Server: "q1", Kind: domain.KindResult, Result: "a"}, time.Millisecond)
	r.reply(c, domain.Reply{Server: long, Kind: domain.KindResult, Result: "b"}, time.Millisecond)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || strings.Index(lines[0], "ok") != len(long)+1 || strings.Index(lines[1], "ok") != len(long)+1 {
		t.Errorf("columns do not line up:\n%s", out.String())
	}
}

// A log line written during a call clears the live line first and draws
// it again after, so the two never share a line.
func TestLogsMindTheLiveLine(t *testing.T) {
	t.Parallel()
	var term bytes.Buffer
	l := &liveLine{w: &term, width: func() int { return 80 }}
	l.call, l.p = callInfo{start: time.Now()}, fixedProgress{{Server: "q1", Expected: true}}
	l.draw()
	s := &stderr{w: &term}
	s.live.Store(l)
	term.Reset()
	if _, err := s.Write([]byte("level=WARN msg=x\n")); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^\r\x1b\[Klevel=WARN msg=x\n\r\x1b\[K0/1 answered · no ack yet: q1 · 0\.\ds$`)
	if !want.MatchString(term.String()) {
		t.Errorf("got %q", term.String())
	}
	// Without a live line, logs pass through.
	var plain bytes.Buffer
	if _, err := (&stderr{w: &plain}).Write([]byte("x\n")); err != nil || plain.String() != "x\n" {
		t.Errorf("got %q, %v", plain.String(), err)
	}
}
