package cli_test

import (
	"strings"
	"testing"
)

// TestAsyncPrintsOnlyTheJobID: call --async on the in-process demo fleet
// prints one line, the job id, and exits 0.
func TestAsyncPrintsOnlyTheJobID(t *testing.T) {
	t.Parallel()
	r := run(t, "", "--url", "memory://", "call", "--async", "all", "fib|20")
	id := strings.TrimSpace(r.out)
	if r.code != 0 || id == "" || strings.ContainsAny(id, " \n") || r.err != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
}

// TestJobFlagsRefused: bad job ids and flags are usage errors (64) in one
// line; --async refuses flags that need the caller to stay.
func TestJobFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"job", "bad id"},
		{"job", strings.Repeat("x", 300)},
		{"jobs", "--since", "yesterday"},
		{"jobs", "--limit", "-1"},
		{"jobs", "--target", strings.Repeat("x", 300)},
		{"call", "--async", "--batch", "2", "all", "ping"},
		{"call", "--async", "--save-failed", "/tmp/x", "all", "ping"},
	} {
		r := run(t, "", append([]string{"--url", "memory://"}, args...)...)
		if r.code != 64 || strings.Count(r.err, "\n") != 2 {
			t.Errorf("%v: exit %d, stderr %q; want 64 and one line (plus the --help hint)", args, r.code, r.err)
		}
	}
}

// TestUnknownJob: an id the store does not hold exits 4, in one line.
func TestUnknownJob(t *testing.T) {
	t.Parallel()
	r := run(t, "", "--url", "memory://", "job", "6b0c99b00731c0bd2f1c-1")
	if r.code != 4 || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "no such job") {
		t.Errorf("exit %d, stderr %q", r.code, r.err)
	}
}
