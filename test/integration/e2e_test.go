package integration_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndClassicSession runs the classic session with separate
// processes on a real broker: two topicrpcd, then topicrpc calls.
func TestEndToEndClassicSession(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	f.server("q1", "--bind", "group1.#")
	f.server("q2", "--bind", "group2.#")

	r := f.client("", "call", "group1", "echo|hello group1 !")
	if r.code != 0 || !strings.Contains(r.out, "hello group1 !") || !hasLine(r.out, "q1") || hasLine(r.out, "q2") {
		t.Fatalf("call group1: exit %d\n%s%s", r.code, r.out, r.err)
	}
	r = f.client("", "call", "group2", "echo|hello group2 !")
	if r.code != 0 || !strings.Contains(r.out, "hello group2 !") || !hasLine(r.out, "q2") || hasLine(r.out, "q1") {
		t.Fatalf("call group2: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// All answers in: the call ends by itself, long before its deadline.
	r = f.client("", "call", "--timeout", "10s", "-o", "json", "all", "fib|30")
	if r.code != 0 {
		t.Fatalf("call all: exit %d\n%s%s", r.code, r.out, r.err)
	}
	sum := lastJSON(t, r.out)
	if sum["ok"] != 2.0 || sum["reason"] != "all_replied" || strings.Count(r.out, `"result":"832040"`) != 2 {
		t.Fatalf("call all fib|30:\n%s", r.out)
	}
	elapsed := sum["elapsed_ms"].(float64)
	t.Logf("call all fib|30: call %.1f ms, whole process %s, against a 10s deadline", elapsed, r.took.Round(time.Millisecond))
	if elapsed > 1000 {
		t.Errorf("the call took %.0f ms; with every answer in it must end well under a second", elapsed)
	}

	r = f.client("", "call", "group9", "echo|x")
	if r.code != 3 || !strings.Contains(r.out, "no server matched group9") || r.took > 5*time.Second {
		t.Errorf("call group9: exit %d after %s\n%s%s", r.code, r.took, r.out, r.err)
	}
	r = f.client("", "call", "q2", "nosuch|x")
	if r.code != 1 || !strings.Contains(r.out, "unknown_command") {
		t.Errorf("unknown command: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// TestEndToEndWithoutManagementAPI: with no discovery at all, the call still
// ends by itself, after the idle gap, with both answers.
func TestEndToEndWithoutManagementAPI(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	f.server("q1", "--bind", "group1.#")
	f.server("q2", "--bind", "group2.#")
	r := f.client("", "call", "--discovery", "none", "--timeout", "10s", "all", "fib|30")
	if r.code != 0 || strings.Count(r.out, "832040") != 2 || !strings.Contains(r.out, "(idle)") {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r.took > 5*time.Second {
		t.Errorf("took %s: it should end at the idle gap, not the deadline", r.took)
	}
}

// TestEndToEndShell drives the shell through stdin.
func TestEndToEndShell(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	f.server("q1", "--bind", "group1.#")
	f.server("q2", "--bind", "group2.#")
	in := "group1 echo|hello group1 !\nlonely\nall fib|30\nq1 ping\nexit\n"
	r := f.client(in, "shell")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"hello group1 !", "832040", "pong name=q1"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("shell output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Count(r.out, "832040") != 2 || !strings.Contains(r.err, "error:") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.out, r.err)
	}
}

// TestEndToEndSilentServer: a server that stops answering is named, exit 2.
func TestEndToEndSilentServer(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	f.server("q1", "--bind", "group1.#")
	f.server("q2", "--bind", "group1.#", "--concurrency", "1")
	// Keep q2 busy past the next call's deadline.
	busy := exec.Command(filepath.Join(binDir, "topicrpc"), "call", "--url", f.b.URL, "--namespace", f.ns,
		"--management-url", f.b.ManagementURL, "--timeout", "4s", "q2", "sleep|3s")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer busy.Wait()
	time.Sleep(300 * time.Millisecond)
	r := f.client("", "call", "--timeout", "1s", "group1", "echo|anyone")
	if r.code != 2 || !strings.Contains(r.out, "no response from: q2") || !hasLine(r.out, "q1") {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
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
		r := runBinary(t, "", tc.bin, tc.args...)
		if r.code != tc.code || !strings.Contains(r.err, tc.msg) || strings.Contains(r.out+r.err, "s3cret") {
			t.Errorf("%s %v: exit %d after %s\nstdout: %s\nstderr: %s", tc.bin, tc.args, r.code, r.took, r.out, r.err)
		}
		if r.took > 10*time.Second {
			t.Errorf("%s %v took %s", tc.bin, tc.args, r.took)
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
