package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCallShapes(t *testing.T) {
	t.Parallel()
	mem := "--url=memory://"
	checkRuns(t, []runCase{
		{"any: one server of the group", []string{"call", mem, "--any", "all", "echo|once"}, 0,
			[]string{"1 ok", "(count)"}, nil, ""},
		{"any to a group nobody works for", []string{"call", mem, "--any", "group9", "echo|x"}, 3,
			nil, []string{"group9"}, "no work queue for group group9"},
		{"expect 1 of 2", []string{"call", mem, "--expect", "1", "all", "echo|x"}, 0,
			[]string{"1 ok", "(count)"}, nil, ""},
		{"limit 1", []string{"call", mem, "--limit", "1", "all", "echo|x"}, 0,
			[]string{"q1 ", "1 expected, 1 ok"}, []string{"q2 "}, ""},
		{"batches of 1", []string{"call", mem, "--batch", "1", "--batch-wait", "10ms", "all", "fib|10"}, 0,
			[]string{"== all batches of all fib|10: 2 expected, 2 ok"}, nil, ""},
		{"batch over nobody", []string{"call", mem, "--batch", "1", "group9", "fib|10"}, 3,
			nil, []string{"group9"}, "no server matched group9"},
		{"any with limit is a usage error", []string{"call", mem, "--any", "--limit", "1", "all", "echo"}, 64, nil, nil, ""},
		{"batch-wait without batch", []string{"call", mem, "--batch-wait", "1s", "all", "echo"}, 64, nil, nil, ""},
		{"bad discovery", []string{"call", mem, "--discovery", "psychic", "all", "echo"}, 64, nil, nil, ""},
		{"servers", []string{"servers", mem}, 0, []string{"q1 ", "q2 ", "group1.#", "== 2 server(s)"}, nil, ""},
		{"servers of a group", []string{"servers", mem, "group2"}, 0, []string{"q2 "}, []string{"q1 "}, ""},
		{"servers of nobody", []string{"servers", mem, "group9"}, 3, []string{"== 0 server(s)"}, nil, ""},
	})
}

func TestSaveFailedThenRetry(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "failed.txt")
	// q2 fails (negative fib), q1 too: both are saved.
	r := run(t, "", "call", "--url=memory://", "--save-failed", file, "all", "fib|-1")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	saved, err := os.ReadFile(file)
	if err != nil || string(saved) != "q1\nq2\n" {
		t.Fatalf("saved %q, %v", saved, err)
	}
	// Only q2 this time.
	if err := os.WriteFile(file, []byte("# from last run\nq2\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "call", "--url=memory://", "--retry-from", file, "all", "fib|3")
	if r.code != 0 || !strings.Contains(r.out, "q2 ") || strings.Contains(r.out, "q1 ") || !strings.Contains(r.out, "1 expected, 1 ok") {
		t.Fatalf("retry: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// A clean run leaves an empty file: nothing to retry.
	r = run(t, "", "call", "--url=memory://", "--save-failed", file, "all", "fib|3")
	if saved, _ := os.ReadFile(file); r.code != 0 || len(saved) != 0 {
		t.Fatalf("exit %d, saved %q", r.code, saved)
	}
	r = run(t, "", "call", "--url=memory://", "--retry-from", filepath.Join(t.TempDir(), "missing"), "all", "fib|3")
	if r.code != 64 {
		t.Fatalf("missing retry file: exit %d", r.code)
	}
}

// --retry-from with a target calls the servers of the file that the target
// reaches (the intersection), and names on stderr the ones left out.
func TestRetryFromIntersectsWithTheTarget(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "failed.txt")
	if err := os.WriteFile(file, []byte("q1\nq2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "call", "--url=memory://", "--retry-from", file, "group2", "echo|x")
	if r.code != 0 || !strings.Contains(r.out, "1 expected, 1 ok") || !strings.Contains(r.out, "q2 ") || strings.Contains(r.out, "q1") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.err, "not calling q1: not among the servers group2 reaches") {
		t.Errorf("q1 left out silently: %q", r.err)
	}
	if err := os.WriteFile(file, []byte("q1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "call", "--url=memory://", "--retry-from", file, "group2", "echo|x")
	if r.code != 3 || r.out != "" || !strings.Contains(r.err, "no server matched group2") {
		t.Errorf("nobody left: exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
}

// The summary's time is the whole call's, batch pauses included, and never
// less than the last reply's.
func TestElapsedIsTheWholeCall(t *testing.T) {
	t.Parallel()
	r := run(t, "", "call", "--url=memory://", "-o", "json", "--batch", "1", "--batch-wait", "300ms", "all", "echo|x")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var lastReply, total float64
	summaries := 0
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var obj struct {
			Type      string
			MS        float64
			ElapsedMS float64 `json:"elapsed_ms"`
			Call      string
		}
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatal(err)
		}
		switch obj.Type {
		case "reply":
			lastReply = max(lastReply, obj.MS)
		case "summary":
			summaries++
			if obj.ElapsedMS < lastReply {
				t.Errorf("summary %.2fms before the last reply at %.2fms", obj.ElapsedMS, lastReply)
			}
			total = obj.ElapsedMS
		}
	}
	if summaries != 3 || lastReply < 300 || total < 300 {
		t.Errorf("%d summaries; last reply at %.2fms, total %.2fms: the pause is left out\n%s", summaries, lastReply, total, r.out)
	}
}

// One vocabulary: in text each server is counted once, in its state; JSON
// keeps silent as the sum of not_received and timed_out.
func TestOneVocabulary(t *testing.T) {
	t.Parallel()
	r := run(t, "", "call", "--url=memory://", "--timeout=300ms", "all", "sleep|5s")
	if r.code != 2 || !strings.Contains(r.out, "2 expected, 0 ok, 0 failed, 2 timed out in") ||
		!strings.Contains(r.out, "   timed out: q1, q2\n") || strings.Contains(r.out, "silent") {
		t.Errorf("exit %d\n%s", r.code, r.out)
	}
	r = run(t, "", "call", "--url=memory://", "-o", "json", "--timeout=300ms", "all", "sleep|5s")
	var sum map[string]any
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	if sum["timed_out"] != 2.0 || sum["not_received"] != 0.0 || sum["silent"] != 2.0 ||
		fmt.Sprint(sum["not_received_servers"]) != "[]" || fmt.Sprint(sum["skipped_servers"]) != "[]" {
		t.Errorf("summary %v", sum)
	}
	// --expect 1 of 2: the other is skipped, and said so.
	r = run(t, "", "call", "--url=memory://", "--expect=1", "all", "sleep|100ms")
	if r.code != 0 || !strings.Contains(r.out, "1 ok, 0 failed, 1 skipped in") || !strings.Contains(r.out, "   skipped: q") {
		t.Errorf("exit %d\n%s", r.code, r.out)
	}
}

// With --any, a worker still working at the deadline is named timed out,
// not "no worker answered".
func TestAnyTimedOut(t *testing.T) {
	t.Parallel()
	r := run(t, "", "call", "--url=memory://", "--any", "--timeout=200ms", "group1", "sleep|5s")
	if r.code != 2 || !strings.Contains(r.out, "1 timed out in") || !strings.Contains(r.out, "   timed out: q1") ||
		strings.Contains(r.out, "no worker") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
}
