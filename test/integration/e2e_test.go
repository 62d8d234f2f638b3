package integration_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// TestEndToEndClassicSession runs the classic session with separate
// processes on a real broker: two topicrpcd, then topicrpc calls.
func TestEndToEndClassicSession(t *testing.T) {
	t.Parallel()
	f := classicFleet(t, true)

	r := f.client("", "call", "group1", "echo|hello group1 !")
	if r.Code != 0 || !strings.Contains(r.Out, "hello group1 !") || !hasLine(r.Out, "q1") || hasLine(r.Out, "q2") {
		t.Fatalf("call group1: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "group2", "echo|hello group2 !")
	if r.Code != 0 || !strings.Contains(r.Out, "hello group2 !") || !hasLine(r.Out, "q2") || hasLine(r.Out, "q1") {
		t.Fatalf("call group2: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}

	// All answers in: the call ends by itself, long before its deadline.
	r = f.client("", "call", "--timeout", "10s", "-o", "json", "all", "fib|30")
	if r.Code != 0 {
		t.Fatalf("call all: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	sum := lastJSON(t, r.Out)
	if sum["ok"] != 2.0 || sum["reason"] != "all_replied" || strings.Count(r.Out, `"result":"832040"`) != 2 {
		t.Fatalf("call all fib|30:\n%s", r.Out)
	}
	elapsed := sum["elapsed_ms"].(float64)
	t.Logf("call all fib|30: call %.1f ms, whole process %s, against a 10s deadline", elapsed, r.Took.Round(time.Millisecond))
	if elapsed > 1000 {
		t.Errorf("the call took %.0f ms; with every answer in it must end well under a second", elapsed)
	}

	r = f.client("", "call", "group9", "echo|x")
	if r.Code != 3 || !strings.Contains(r.Err, "no server matched group9") || r.Out != "" || r.Took > 5*time.Second {
		t.Errorf("call group9: exit %d after %s\n%s%s", r.Code, r.Took, r.Out, r.Err)
	}
	r = f.client("", "call", "q2", "nosuch|x")
	if r.Code != 1 || !strings.Contains(r.Out, "unknown_command") {
		t.Errorf("unknown command: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
}

// TestEndToEndWithoutManagementAPI: with no discovery at all, the call still
// ends by itself, after the idle gap, with both answers.
func TestEndToEndWithoutManagementAPI(t *testing.T) {
	t.Parallel()
	f := classicFleet(t, false)
	r := f.client("", "call", "--discovery", "none", "--timeout", "10s", "all", "fib|30")
	if r.Code != 0 || strings.Count(r.Out, "832040") != 2 || !strings.Contains(r.Out, "(idle)") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	if r.Took > 5*time.Second {
		t.Errorf("took %s: it should end at the idle gap, not the deadline", r.Took)
	}
}

// TestEndToEndShell drives the shell through stdin.
func TestEndToEndShell(t *testing.T) {
	t.Parallel()
	f := classicFleet(t, true)
	in := "group1 echo|hello group1 !\nlonely\nall fib|30\nq1 ping\nexit\n"
	r := f.client(in, "shell")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	for _, want := range []string{"hello group1 !", "832040", "pong name=q1"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("shell output lacks %q:\n%s", want, r.Out)
		}
	}
	if strings.Count(r.Out, "832040") != 2 || !strings.Contains(r.Err, "error:") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.Out, r.Err)
	}
}

// TestEndToEndSilentServer: a server that stops answering is named, exit 2.
func TestEndToEndSilentServer(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	f.server("q1", "--bind", "group1.#")
	f.server("q2", "--bind", "group1.#", "--concurrency", "1")
	// Keep q2 busy past the next call's deadline: once it acknowledged the
	// job, its one slot is taken.
	f.job("q2", "sleep|3s", 4*time.Second, false).await(t, domain.KindAck, 10*time.Second)
	r := f.client("", "call", "--timeout", "1s", "group1", "echo|anyone")
	if r.Code != 2 || !strings.Contains(r.Out, "not received: q2") || !hasLine(r.Out, "q1") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
}

// TestEndToEndBadInput: usage errors are one line and exit 64; an
// unreachable broker is one line and a non-zero exit within seconds.
func TestEndToEndBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bin  string
		args []string
		code int
		msg  string
	}{
		{"topicrpcd", []string{"--bind", "x.#"}, 64, "--name is required"},
		{"topicrpc", []string{"call", "all"}, 64, "want TARGET COMMAND"},
		{"topicrpc", []string{"call", "--url", "amqp://guest:s3cret@127.0.0.1:1/", "all", "echo"}, 69, "connect to amqp://guest:xxxxx@127.0.0.1:1/"},
		{"topicrpcd", []string{"--url", "amqp://guest:s3cret@127.0.0.1:1/", "--name", "q1"}, 69, "127.0.0.1:1"},
	} {
		r := bins.Run(t, "", tc.bin, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Err, tc.msg) || strings.Contains(r.Out+r.Err, "s3cret") {
			t.Errorf("%s %v: exit %d after %s\nstdout: %s\nstderr: %s", tc.bin, tc.args, r.Code, r.Took, r.Out, r.Err)
		}
		if r.Took > 10*time.Second {
			t.Errorf("%s %v took %s", tc.bin, tc.args, r.Took)
		}
	}
}

// hasLine reports whether some output line starts with the server's name.
func hasLine(out, server string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, server+" ") {
			return true
		}
	}
	return false
}

func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var obj map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &obj); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	return obj
}
