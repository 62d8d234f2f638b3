package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// TestHelperProcess is not a test: it is the program the exec tests run,
// this test binary started again as "-test.run=^TestHelperProcess$ -- STEP...".
// exec gives it an empty environment, so it looks at its arguments only.
// Steps: "print N" writes N bytes of 'x'; "say WORDS" writes the words;
// "env" writes its environment; "spawn" starts itself sleeping a minute (in
// the same process group, sharing the output) and writes "child=PID";
// "sleep D" sleeps; "exit C" exits with code C. Without steps it returns.
func TestHelperProcess(*testing.T) {
	i := slices.Index(os.Args, "--")
	if i < 0 {
		return
	}
	steps := os.Args[i+1:]
	for len(steps) > 0 {
		step, arg := steps[0], ""
		if len(steps) > 1 {
			arg = steps[1]
		}
		steps = steps[min(2, len(steps)):]
		switch step {
		case "print":
			n, _ := strconv.Atoi(arg)
			os.Stdout.WriteString(strings.Repeat("x", n))
		case "say":
			fmt.Println(arg)
		case "stderr":
			fmt.Fprintln(os.Stderr, arg)
		case "env":
			fmt.Print(strings.Join(os.Environ(), "\n"))
			steps = append([]string{arg}, steps...)
		case "spawn":
			child := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "--", "sleep", "1m")
			child.Stdout = os.Stdout
			if err := child.Start(); err != nil {
				fmt.Println(err)
				helperExit(3)
			}
			fmt.Printf("child=%d\n", child.Process.Pid)
			steps = append([]string{arg}, steps...)
		case "sleep":
			d, _ := time.ParseDuration(arg)
			time.Sleep(d)
		case "exit":
			code, _ := strconv.Atoi(arg)
			helperExit(code)
		}
	}
	helperExit(0)
}

// helperExit ends the helper process with code. In a test binary built with
// -cover, exiting early runs the coverage runtime's exit hook, which warns on
// stderr that GOCOVERDIR is not set (exec gives the helper an environment of
// its own, without it); exec captures that line as output. The helper has
// written everything it was asked to by now, so its stderr goes to
// /dev/null first.
func helperExit(code int) {
	if testing.CoverMode() != "" {
		if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
			os.Stderr = null
		}
	}
	os.Exit(code)
}

// helper returns an allow map naming this test binary "helper", and the
// args prefix that makes it TestHelperProcess.
func helper(t *testing.T) (map[string]string, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"helper": self, "echo": "/bin/echo"}, "helper -test.run=^TestHelperProcess$ -- "
}

func TestSplitArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "", want: nil},
		{in: "  \t ", want: nil},
		{in: "echo hello", want: []string{"echo", "hello"}},
		{in: ` echo  hello "big world" `, want: []string{"echo", "hello", "big world"}},
		{in: `a "" b`, want: []string{"a", "", "b"}},
		{in: `"a b"c d`, want: []string{"a bc", "d"}},
		{in: `say "a \"quoted\" word"`, want: []string{"say", `a "quoted" word`}},
		{in: `"back\\slash" \n 'single quotes' $(rm -rf /)`, want: []string{`back\slash`, `\n`, "'single", "quotes'", "$(rm", "-rf", "/)"}},
		{in: "tab\tnew\nline", want: []string{"tab", "new", "line"}},
		{in: `"unbalanced`, bad: true},
		{in: `a "b\"`, bad: true},
		{in: "nul\x00byte", bad: true},
	}
	for _, tc := range tests {
		got, err := app.SplitArgs(tc.in)
		if tc.bad {
			if !errors.Is(err, app.ErrBadArgs) {
				t.Errorf("SplitArgs(%q) = %q, %v; want ErrBadArgs", tc.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{`echo hello "big world"`, `"a \"b\" \\"`, `"`, "x\x00", `a""b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := app.SplitArgs(s)
		if err != nil {
			if !errors.Is(err, app.ErrBadArgs) {
				t.Fatalf("error %v does not wrap ErrBadArgs", err)
			}
			return
		}
		// Quoting every word and splitting again gives the same words.
		var b strings.Builder
		for _, w := range words {
			b.WriteString(` "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`)
		}
		again, err := app.SplitArgs(b.String())
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("SplitArgs(%q) = %q; requoted %q splits into %q, %v", s, words, b.String(), again, err)
		}
	})
}

func TestExec(t *testing.T) {
	t.Parallel()
	programs, h := helper(t)
	exec := app.ExecHandler(programs, 100)
	tests := []struct {
		name, args string
		want       string // the result, or a substring of the error
		wantErr    error  // nil: ok
	}{
		{"echo with quotes", `echo hello "big world"`, "hello big world", nil},
		{"no shell", `echo $HOME; rm -rf / "*"`, "$HOME; rm -rf / *", nil},
		{"stderr too", h + `say out stderr err`, "out\nerr", nil},
		{"minimal env", h + "env", "PATH=/usr/bin:/bin\nLANG=C", nil},
		{"exit status", h + "say partial exit 3", "exit status 3; output:\npartial", errors.New("")},
		{"cap", h + "print 150", strings.Repeat("x", 100) + "\n[output truncated at 100 bytes]", nil},
		{"cap on error", h + "print 150 exit 1", "exit status 1; output:\n" + strings.Repeat("x", 100) + "\n[output truncated", errors.New("")},
		{"not allowed", "sh -c id", `exec of "sh" is not allowed; allowed names: echo, helper`, app.ErrBadArgs},
		{"empty", "  ", "exec wants NAME [ARG...]; allowed names: echo, helper", app.ErrBadArgs},
		{"unbalanced", `echo "x`, "unbalanced", app.ErrBadArgs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := exec(t.Context(), tc.args)
			switch {
			case tc.wantErr == nil && (err != nil || got != tc.want):
				t.Errorf("exec %q = %q, %v; want %q", tc.args, got, err, tc.want)
			case tc.wantErr != nil && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("exec %q = %q, %v; want an error containing %q", tc.args, got, err, tc.want)
			case tc.wantErr == app.ErrBadArgs && !errors.Is(err, app.ErrBadArgs):
				t.Errorf("exec %q: %v does not wrap ErrBadArgs", tc.args, err)
			}
		})
	}
}

// TestExecKilledAtDeadline: the program and the child it started (sharing
// its process group and output) are both killed at the deadline, and the
// server answers with code deadline.
func TestExecKilledAtDeadline(t *testing.T) {
	t.Parallel()
	programs, h := helper(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := app.ExecHandler(programs, 0)(ctx, h+"spawn sleep 1m")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("exec took %s; it should end at the 2s deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	_, pid, ok := strings.Cut(err.Error(), "child=")
	if !ok {
		t.Fatalf("no child pid in %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(pid))
	if err != nil {
		t.Fatal(err)
	}
	for !gone(child) {
		if time.Since(start) > 10*time.Second {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d still running after the deadline", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExecChildHoldingOutput: a program that exits while a child still holds
// its output does not hang the call; the child is killed.
func TestExecChildHoldingOutput(t *testing.T) {
	t.Parallel()
	programs, h := helper(t)
	start := time.Now()
	got, err := app.ExecHandler(programs, 0)(t.Context(), h+"spawn exit 0")
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > app.ExecWaitDelay+5*time.Second {
		t.Errorf("took %s", took)
	}
	child, err := strconv.Atoi(strings.TrimPrefix(got, "child="))
	if err != nil {
		t.Fatalf("result %q: %v", got, err)
	}
	for !gone(child) {
		if time.Since(start) > 10*time.Second {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d outlived the call holding its output", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether pid has exited (a zombie nobody reaped counts as gone).
func gone(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

// TestExecThroughServer: the handler registered on a server answers with the
// codes the caller sees.
func TestExecThroughServer(t *testing.T) {
	t.Parallel()
	programs, h := helper(t)
	c, f := fleet(t, app.ClientConfig{Timeout: 5 * time.Second})
	if err := f.Handle("exec", app.ExecHandler(programs, 0)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args, code, want string
	}{
		{`echo hello "big world"`, "", "hello big world"},
		{"rm -rf /", domain.CodeBadArgs, "not allowed"},
		{h + "exit 7", domain.CodeFailed, "exit status 7"},
	}
	for _, tc := range tests {
		_, outs := do(t, c, "q1", "exec|"+tc.args)
		o := outs["q1"].Reply
		if o.Code != tc.code || !strings.Contains(o.Result+o.Error, tc.want) {
			t.Errorf("exec|%s: %+v, want code %q with %q", tc.args, o, tc.code, tc.want)
		}
	}
	_, outs := doWithin(t, c, 500*time.Millisecond, "q1", domain.Command{Name: "exec", Args: h + "sleep 1m"})
	if o := outs[0]; o.State != domain.StateTimedOut {
		t.Errorf("exec past the deadline: %+v", o)
	}
}

// TestExecDeadlineReply: the server's own answer for an exec killed at the
// deadline, read from the transport: code deadline, the cause and the output.
func TestExecDeadlineReply(t *testing.T) {
	t.Parallel()
	programs, h := helper(t)
	tr := testkit.MemoryTransport(t)
	s := app.NewServer(tr, app.ServerConfig{Name: "s1"}, quiet)
	if err := s.Handle("exec", app.ExecHandler(programs, 0)); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s, 0)
	now := time.Now()
	req := &domain.Request{ID: "d1", Target: "s1", Command: domain.Command{Name: "exec", Args: h + "say started sleep 1m"},
		Sent: now, Deadline: now.Add(time.Second)}
	replies := make(sink, 16)
	if err := tr.Send(t.Context(), req, replies); err != nil {
		t.Fatal(err)
	}
	r, _ := replies.result(t)
	if r.Code != domain.CodeDeadline || !strings.Contains(r.Error, "killed: context deadline exceeded; output:\nstarted") {
		t.Errorf("reply %+v", r)
	}
}

func TestCheckExecPrograms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		programs map[string]string
		want     string // empty: ok
	}{
		{map[string]string{"echo": "/bin/echo"}, ""},
		{map[string]string{"echo": "bin/echo"}, "not an absolute path"},
		{map[string]string{"nope": filepath.Join(dir, "missing")}, "no such file"},
		{map[string]string{"dir": dir}, "not a regular file"},
		{map[string]string{"plain": plain}, "not executable"},
		{map[string]string{"two words": "/bin/echo"}, "want one word"},
	}
	for _, tc := range tests {
		err := app.CheckExecPrograms(tc.programs)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckExecPrograms(%v) = %v, want %q", tc.programs, err, tc.want)
		}
	}
}
