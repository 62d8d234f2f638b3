package integration_test

import (
	"encoding/json"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// summaryLine is the part of `call -o json`'s summary these tests read.
type summaryLine struct {
	Type           string   `json:"type"`
	Expected       int      `json:"expected"`
	OK             int      `json:"ok"`
	Reason         string   `json:"reason"`
	DownServers    []string `json:"down_servers"`
	StoppedServers []string `json:"stopped_servers"`
	Forged         int      `json:"forged"`
	ForgedClaims   []string `json:"forged_claims"`
	ExitCode       int      `json:"exit_code"`
	Servers        []struct {
		Server   string     `json:"server"`
		State    string     `json:"state"`
		LastSeen *time.Time `json:"last_seen"`
	} `json:"servers"`
}

func lastSummary(t *testing.T, out string) summaryLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s summaryLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil || s.Type != "summary" {
		t.Fatalf("no summary line (%v) in:\n%s", err, out)
	}
	return s
}

func states(s summaryLine) map[string]string {
	m := map[string]string{}
	for _, x := range s.Servers {
		m[x.Server] = x.State
	}
	return m
}

// TestFleetRegisterNamesWhoIsGone: on a plain RabbitMQ, no management API
// anywhere, a fleet of four — one up, one frozen (SIGSTOP), one killed
// (SIGKILL), one stopped (SIGTERM). A call to the group of the killed and
// stopped ones ends at once naming both, exit 2; a call to all names the
// frozen one not received at the deadline; servers --down lists the three
// that would not answer; a second topicrpcd of a running name is refused;
// forget retires a down server and refuses an up one.
func TestFleetRegisterNamesWhoIsGone(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	f.server("u1", "--bind", "ga.#")
	frozen := f.server("z1", "--bind", "ga.#")
	killed := f.server("k1", "--bind", "gb.#")
	stopped := f.server("s1", "--bind", "gb.#")

	// The name of a running server is taken.
	dup := bins.Run(t, "", "topicrpcd", "--url", f.b.URL, "--namespace", f.ns, "--name", "u1")
	if dup.Code != 75 || !strings.Contains(dup.Err, "u1 (host ") || !strings.Contains(dup.Err, ", up ") {
		t.Errorf("second u1: exit %d\n%s", dup.Code, dup.Err)
	}

	if err := frozen.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = frozen.Process.Signal(syscall.SIGCONT) })
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := stopped.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := stopped.ExitCode(20 * time.Second); code != 0 {
		t.Fatalf("s1 exited %d after SIGTERM", code)
	}
	killed.ExitCode(20 * time.Second) // reaped: its connection is closed

	// The killed and stopped ones alone: named at once, not waited for.
	r := f.client("", "call", "--timeout", "10s", "-o", "json", "gb", "echo|x")
	s := lastSummary(t, r.Out)
	if r.Code != 2 || s.ExitCode != 2 || r.Took > 5*time.Second || s.Reason != "all_replied" {
		t.Errorf("call gb: exit %d after %v, reason %s; want 2 at once\n%s%s", r.Code, r.Took, s.Reason, r.Out, r.Err)
	}
	if !slices.Equal(s.DownServers, []string{"k1"}) || !slices.Equal(s.StoppedServers, []string{"s1"}) || s.Expected != 2 {
		t.Errorf("call gb: summary %+v", s)
	}
	for _, x := range s.Servers {
		if x.LastSeen == nil || time.Since(*x.LastSeen) > time.Minute {
			t.Errorf("call gb: %s (%s) last seen %v", x.Server, x.State, x.LastSeen)
		}
	}

	// --any to their group: refused at once, naming the group and them.
	r = f.client("", "call", "--timeout", "10s", "--any", "gb", "echo|x")
	if r.Code != 2 || r.Took > 5*time.Second || r.Out != "" ||
		!strings.Contains(r.Err, "no live worker in group gb: k1 down, s1 stopped") {
		t.Errorf("call --any gb: exit %d after %v\nstdout: %s\nstderr: %s", r.Code, r.Took, r.Out, r.Err)
	}

	// Everyone: the frozen one is waited for, and not received.
	r = f.client("", "call", "--timeout", "2s", "-o", "json", "all", "echo|x")
	s = lastSummary(t, r.Out)
	want := map[string]string{"u1": "ok", "z1": "not_received", "k1": "down", "s1": "stopped"}
	if got := states(s); r.Code != 2 || s.Reason != "deadline" || len(got) != len(want) {
		t.Errorf("call all: exit %d, reason %s, states %v\n%s", r.Code, s.Reason, got, r.Err)
	} else {
		for name, st := range want {
			if got[name] != st {
				t.Errorf("call all: %s is %s, want %s", name, got[name], st)
			}
		}
	}

	// servers --down: the three that would not answer.
	r = f.client("", "servers", "--down", "-o", "json")
	down := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.Out), "\n") {
		var x struct{ Server, State string }
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			t.Fatalf("servers --down: %v in %q", err, line)
		}
		down[x.Server] = x.State
	}
	if r.Code != 0 || len(down) != 3 || down["z1"] != "unresponsive" || down["k1"] != "down" || down["s1"] != "stopped" {
		t.Errorf("servers --down: exit %d, %v\n%s", r.Code, down, r.Err)
	}

	// forget: an up server is refused; a down one is retired with its queue.
	if r = f.client("", "forget", "u1"); r.Code != 1 || !strings.Contains(r.Err, "the server is up") {
		t.Errorf("forget u1: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	if r = f.client("", "forget", "k1"); r.Code != 0 || !strings.Contains(r.Out, "forgot k1; deleted its queue") {
		t.Errorf("forget k1: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "--timeout", "10s", "-o", "json", "gb", "echo|x")
	if s = lastSummary(t, r.Out); s.Expected != 1 || len(s.DownServers) != 0 || !slices.Equal(s.StoppedServers, []string{"s1"}) {
		t.Errorf("call gb after forgetting k1: %+v", s)
	}
}
