package cli_test

import (
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
