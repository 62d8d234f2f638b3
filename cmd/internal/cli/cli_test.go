package cli_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

type result struct {
	code     int
	out, err string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), args, cli.IO{
		In: strings.NewReader(stdin), Out: &out, Err: &errb,
		Getenv: func(string) string { return "" },
	})
	return result{code, out.String(), errb.String()}
}

func TestDemoReplaysTheClassicSessionAndExits(t *testing.T) {
	t.Parallel()
	r := run(t, "", "demo")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{
		">>: group1 echo|hello group1 !", "hello group1 !",
		">>: group2 echo|hello group2 !", "hello group2 !",
		">>: all fib|30", "2 expected, 2 ok, 0 failed in",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.out)
		}
	}
	if n := strings.Count(r.out, "832040"); n != 2 {
		t.Errorf("fib 30 answered %d times, want 2 (q1 and q2):\n%s", n, r.out)
	}
	for _, line := range strings.Split(r.out, "\n") {
		if strings.Contains(line, "hello group1 !") && strings.HasPrefix(line, "q2") {
			t.Errorf("q2 answered group1: %s", line)
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	mem := "--url=memory://"
	checkRuns(t, []runCase{
		{"all ok", []string{"call", mem, "all", "fib|30"}, 0, []string{"832040"}, nil, ""},
		{"words form", []string{"call", mem, "q1", "echo", "a", "b"}, 0, []string{"a b"}, nil, ""},
		{"error reply", []string{"call", mem, "all", "fib|-3"}, 1, []string{"failed: q1, q2"}, nil, ""},
		{"unknown command", []string{"call", mem, "q2", "frobnicate"}, 1, []string{"unknown_command"}, nil, ""},
		{"timed out at deadline", []string{"call", mem, "--timeout=200ms", "group1", "sleep|5s"}, 2, []string{"1 timed out in", "   timed out: q1"}, []string{"silent"}, ""},
		{"nothing matched", []string{"call", mem, "group9", "echo|x"}, 3, nil, []string{"group9"}, "no server matched group9"},
		{"missing command", []string{"call", mem, "group1"}, 64, nil, nil, "want TARGET COMMAND"},
		{"bad command", []string{"call", mem, "group1", "|x"}, 64, nil, nil, "empty command name"},
		{"key too long", []string{"call", mem, strings.Repeat("k", 256), "echo"}, 64, nil, nil, "at most 255"},
		{"bad duration", []string{"call", mem, "--timeout=soon", "all", "echo"}, 64, nil, nil, "invalid argument"},
		{"unknown flag", []string{"call", "--nope"}, 64, nil, nil, "unknown flag"},
		{"unknown subcommand", []string{"frob"}, 64, nil, nil, "unknown command"},
		{"bad output", []string{"call", mem, "-o", "xml", "all", "echo"}, 64, nil, nil, "--output"},
		{"bad url", []string{"call", "--url=ftp://x", "all", "echo"}, 64, nil, nil, "want amqp://"},
		{"match", []string{"match", "group1.#", "group1"}, 0, []string{"match"}, nil, ""},
		{"no match", []string{"match", "*.b", "a.b.c"}, 1, []string{"no match"}, nil, ""},
		{"match usage", []string{"match", "x"}, 64, nil, nil, "want BINDING KEY"},
	})
}

// runCase is one run of topicrpc and how it must end.
type runCase struct {
	name string
	args []string
	code int
	out  []string // substrings of stdout
	not  []string // strings stdout must not hold
	err  string   // substring of stderr
}

// checkRuns runs each case in parallel and checks its exit code and output;
// a usage error (64) must be one line on stderr, plus the --help hint.
func checkRuns(t *testing.T, tests []runCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.err, tc.err) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.out, r.err)
			}
			for _, w := range tc.out {
				if !strings.Contains(r.out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(r.out, n) {
					t.Errorf("stdout has %q:\n%s", n, r.out)
				}
			}
			if tc.code == 64 && strings.Count(strings.TrimSpace(r.err), "\n") > 1 {
				t.Errorf("a usage error should be one line (plus the --help hint):\n%s", r.err)
			}
		})
	}
}

func TestJSONLinesStayValid(t *testing.T) {
	t.Parallel()
	r := run(t, "", "call", "--url=memory://", "-o", "json", "--timeout=300ms", "all", "fib|30")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 replies and a summary, got:\n%s", r.out)
	}
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
		want := "reply"
		if i == 2 {
			want = "summary"
		}
		if obj["type"] != want {
			t.Fatalf("line %d type %v, want %s", i, obj["type"], want)
		}
		if want == "summary" && (obj["ok"] != 2.0 || obj["exit_code"] != 0.0 || obj["reason"] != "all_replied") {
			t.Fatalf("summary %v", obj)
		}
	}
}

func TestShellKeepsGoingAfterBadLines(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"group1 echo|hello group1 !",
		"nonsense",
		"group9 echo|x",
		"q1 fib|x",
		"",
		"help",
		"all fib|30",
		"exit",
		"q1 echo|never reached",
	}, "\n")
	r := run(t, in, "shell", "--url=memory://")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{"hello group1 !", "bad_args", "Type TARGET COMMAND", "832040"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("shell output lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.err, "no server matched group9") || strings.Contains(r.out, "group9") {
		t.Errorf("the failed call not reported on stderr alone:\nstdout: %s\nstderr: %s", r.out, r.err)
	}
	if !strings.Contains(r.err, "want TARGET COMMAND") {
		t.Errorf("bad line not reported on stderr: %q", r.err)
	}
	if strings.Contains(r.out, "never reached") {
		t.Error("the shell went on after exit")
	}
}

// TestShellLongLines: a line with args at the limit is sent; longer args
// are refused and a line far over it (2 MiB) is skipped, and the shell
// goes on either way.
func TestShellLongLines(t *testing.T) {
	t.Parallel()
	atLimit := strings.Repeat("a", 1<<20)
	in := strings.Join([]string{
		"q1 echo|" + atLimit,
		"q1 echo|" + atLimit + "b",
		"q1 echo|" + strings.Repeat("c", 2<<20),
		"q2 echo|still here",
	}, "\n")
	r := run(t, in, "shell", "--url=memory://", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var results []string
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var obj struct{ Type, Server, Result string }
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("not JSON: %.80s", line)
		}
		if obj.Type == "reply" {
			results = append(results, obj.Server+" "+obj.Result)
		}
	}
	if len(results) != 2 || results[0] != "q1 "+atLimit || results[1] != "q2 still here" {
		t.Errorf("replies: %.100q", results)
	}
	for _, want := range []string{"at most 1048576 allowed", "line over"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q: %s", want, r.err)
		}
	}
}

// TestShellServers: servers [TARGET] lists the register in the shell.
func TestShellServers(t *testing.T) {
	t.Parallel()
	r := run(t, "servers\nservers group1\nservers group9\nq1 echo|after\n", "shell", "--url=memory://")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	lists := strings.Split(r.out, "== ")
	if len(lists) < 3 || !strings.Contains(lists[0], "q1 ") || !strings.Contains(lists[0], "q2 ") ||
		!strings.Contains(lists[1], "q1 ") || strings.Contains(lists[1], "q2 ") {
		t.Errorf("servers, then servers group1:\n%s", r.out)
	}
	if !strings.Contains(r.err, "no server matched group9") || strings.Contains(r.err, "want TARGET COMMAND") {
		t.Errorf("stderr: %s", r.err)
	}
	if !strings.Contains(r.out, "after") {
		t.Errorf("the shell stopped:\n%s", r.out)
	}
}
