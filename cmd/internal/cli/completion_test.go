package cli_test

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// complete runs cobra's __complete, as the shells' completion scripts do,
// and returns the words offered and the directive line.
func complete(t *testing.T, words ...string) ([]string, string) {
	t.Helper()
	r := run(t, "", append([]string{"__complete"}, words...)...)
	if r.code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s%s", words, r.code, r.out, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	var offered []string
	for _, l := range lines[:len(lines)-1] {
		word, _, _ := strings.Cut(l, "\t")
		offered = append(offered, word)
	}
	return offered, lines[len(lines)-1]
}

// TestCompletionFromTheFleet: TAB offers the targets and commands of the
// in-memory demo fleet, read from its register, and never files.
func TestCompletionFromTheFleet(t *testing.T) {
	t.Parallel()
	mem := "--url=memory://"
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{"targets", []string{"call", mem, ""}, []string{"all", "group1", "group2", "q1", "q2"}},
		{"targets typed in part", []string{"call", mem, "gr"}, []string{"group1", "group2"}},
		{"commands of a group", []string{"call", mem, "group1", ""}, []string{"echo", "fib", "ping", "sleep"}},
		{"commands typed in part", []string{"call", mem, "all", "e"}, []string{"echo"}},
		{"nothing after the command", []string{"call", mem, "all", "echo", ""}, nil},
		{"servers' target", []string{"servers", mem, "q"}, []string{"q1", "q2"}},
		{"forget: servers not named yet", []string{"forget", mem, "q1", ""}, []string{"q2"}},
		{"URL from the environment is not there: flags first", []string{"--url", "memory://", "call", "all", "f"}, []string{"fib"}},
		{"output values", []string{"call", "-o", ""}, []string{"text", "json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, directive := complete(t, tc.words...)
			if !slices.Equal(got, tc.want) || directive != ":4" {
				t.Errorf("__complete %q offered %q, %s; want %q, :4 (no files)", tc.words, got, directive, tc.want)
			}
		})
	}
}

// TestCompletionNeverHangs: a broker that accepts the connection and never
// answers gets no offer, and no files, within a second or so.
func TestCompletionNeverHangs(t *testing.T) {
	t.Parallel()
	addr := testkit.Listen(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }) // reads, never answers
	start := time.Now()
	got, directive := complete(t, "call", "--url=amqp://guest:guest@"+addr+"/", "")
	took := time.Since(start)
	if len(got) != 0 || directive != ":4" {
		t.Errorf("offered %q, %s; want nothing and :4", got, directive)
	}
	if took > 5*time.Second {
		t.Errorf("took %s: the register is read for at most a second", took)
	}
	got, directive = complete(t, "call", "--url=ftp://nowhere", "")
	if len(got) != 0 || directive != ":4" {
		t.Errorf("bad URL: offered %q, %s", got, directive)
	}
}

// TestCompletionScripts: completion SHELL prints each shell's script.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{"bash": "__start_topicrpc", "zsh": "#compdef topicrpc", "fish": "complete -c topicrpc"} {
		r := run(t, "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.out, want) || !strings.Contains(r.out, "__complete") {
			t.Errorf("completion %s: exit %d, no %q:\n%.300s", shell, r.code, want, r.out)
		}
	}
}

// TestDidYouMean: a target or command a typo away from a known one is
// named in the error.
func TestDidYouMean(t *testing.T) {
	t.Parallel()
	mem := "--url=memory://"
	tests := []struct {
		args []string
		code int
		want string // in stdout or stderr
		not  string
	}{
		{[]string{"call", mem, "grop1", "echo", "x"}, 3, "no server matched grop1; did you mean group1?", ""},
		{[]string{"call", mem, "q3", "echo", "x"}, 3, "did you mean q1 or q2?", ""},
		{[]string{"call", mem, "accounting", "echo", "x"}, 3, "no server matched accounting", "did you mean"},
		{[]string{"call", mem, "q1", "ecco", "x"}, 1, `unknown command "ecco"; this server has: echo, fib, ping, sleep; did you mean echo?`, ""},
		{[]string{"call", mem, "q1", "frobnicate"}, 1, "unknown command", "did you mean"},
	}
	for _, tc := range tests {
		r := run(t, "", tc.args...)
		all := r.out + r.err
		if r.code != tc.code || !strings.Contains(all, tc.want) || tc.not != "" && strings.Contains(all, tc.not) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s", tc.args, r.code, tc.code, tc.want, all)
		}
	}
	r := run(t, "grop1 echo x\n", "shell", mem)
	if !strings.Contains(r.out+r.err, "did you mean group1?") {
		t.Errorf("shell: %s%s", r.out, r.err)
	}
}
