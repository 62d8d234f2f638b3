package integration_test

import (
	"slices"
	"strings"
	"testing"
)

// TestCompletionFromTheLiveFleet: the shells' completion (cobra's
// __complete) offers the targets and commands of the servers running on
// the broker, read from the fleet register; a target or command a typo away
// is named in the error.
func TestCompletionFromTheLiveFleet(t *testing.T) {
	t.Parallel()
	f := classicFleet(t, false)
	f.bound("payments.#", "payments-worker-eu-west-1")
	complete := func(words ...string) []string {
		t.Helper()
		argv := append([]string{"__complete"}, words[0], "--url", f.b.URL, "--namespace", f.ns)
		r := bins.Run(t, "", "topicrpc", append(argv, words[1:]...)...)
		lines := strings.Split(strings.TrimSpace(r.Out), "\n")
		if r.Code != 0 || lines[len(lines)-1] != ":4" {
			t.Fatalf("__complete %q: exit %d, want :4 last\n%s%s", words, r.Code, r.Out, r.Err)
		}
		var offered []string
		for _, l := range lines[:len(lines)-1] {
			word, _, _ := strings.Cut(l, "\t")
			offered = append(offered, word)
		}
		return offered
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"call", ""}, []string{"all", "group1", "group2", "payments", "payments-worker-eu-west-1", "q1", "q2"}},
		{[]string{"call", "pay"}, []string{"payments", "payments-worker-eu-west-1"}},
		{[]string{"call", "group2", ""}, []string{"echo", "fib", "ping", "sleep"}},
		{[]string{"servers", "q"}, []string{"q1", "q2"}},
	} {
		if got := complete(tc.words...); !slices.Equal(got, tc.want) {
			t.Errorf("__complete %q offered %q, want %q", tc.words, got, tc.want)
		}
	}

	r := f.client("", "call", "grop1", "echo", "x")
	if r.Code != 3 || !strings.Contains(r.Out+r.Err, "did you mean group1?") {
		t.Errorf("grop1: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "q2", "ecco", "x")
	if r.Code != 1 || !strings.Contains(r.Out+r.Err, "did you mean echo?") {
		t.Errorf("ecco: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
}
