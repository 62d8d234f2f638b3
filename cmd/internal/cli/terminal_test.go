package cli_test

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

// runOnTerminal runs topicrpc with stdout and stderr on one pseudo-terminal
// of cols columns, as a person at a terminal would, and returns everything
// the terminal received.
func runOnTerminal(t *testing.T, cols uint16, env map[string]string, args ...string) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 40, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	read := make(chan string)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, ptmx) // ends with EIO once tty is closed and drained
		read <- b.String()
	}()
	code := cli.Run(t.Context(), args, cli.IO{In: strings.NewReader(""), Out: tty, Err: tty,
		Getenv: func(k string) string { return env[k] }})
	tty.Close()
	return code, <-read
}

// On a terminal, a call that takes a while shows a live status line on
// stderr (answered/expected, who is working and for how long), cleared
// before each reply line and replaced by the summary; the states are in
// colour.
func TestLiveLineAndColourOnATerminal(t *testing.T) {
	t.Parallel()
	code, screen := runOnTerminal(t, 120, nil, "call", "--url=memory://", "all", "sleep|1s")
	if code != 0 {
		t.Fatalf("exit %d:\n%q", code, screen)
	}
	if !regexp.MustCompile(`\r\x1b\[K\x1b\[2m0/2 answered · working: q1 0\.\ds, q2 0\.\ds · 0\.\ds`).MatchString(screen) {
		t.Errorf("no live line saying both servers are working:\n%q", screen)
	}
	// Each reply line starts on a cleared line; the summary comes after
	// the live line is cleared for good and nothing is drawn after it.
	if !regexp.MustCompile(`\r\x1b\[Kq[12] +\x1b\[32mok +\x1b\[0m +1\d\d\dms  slept 1s\r\n`).MatchString(screen) {
		t.Errorf("reply lines not on a cleared line, or ok not green:\n%q", screen)
	}
	last := strings.LastIndex(screen, "\r\x1b[K")
	sum := strings.Index(screen, "== all sleep|1s: 2 expected, \x1b[32m2 ok\x1b[0m, 0 failed in 1")
	if sum < 0 {
		t.Fatalf("no summary:\n%q", screen)
	}
	if sum < last {
		t.Errorf("the summary is not the last thing on the screen (summary at %d, last clear at %d):\n%q", sum, last, screen)
	}
	if strings.Contains(screen[sum:], "answered") {
		t.Errorf("a live line drawn after the summary:\n%q", screen[sum:])
	}
}

// NO_COLOR and --color=never take the colour away, not the live line;
// --color=always colours even where stdout is not a terminal.
func TestColourChoices(t *testing.T) {
	t.Parallel()
	t.Run("NO_COLOR", func(t *testing.T) {
		t.Parallel()
		_, screen := runOnTerminal(t, 120, map[string]string{"NO_COLOR": "1"}, "call", "--url=memory://", "all", "sleep|300ms")
		if strings.Contains(screen, "\x1b[3") || strings.Contains(screen, "\x1b[2m") {
			t.Errorf("colour despite NO_COLOR:\n%q", screen)
		}
		if !strings.Contains(screen, "0/2 answered") {
			t.Errorf("no live line:\n%q", screen)
		}
	})
	t.Run("never", func(t *testing.T) {
		t.Parallel()
		_, screen := runOnTerminal(t, 120, nil, "call", "--url=memory://", "--color=never", "all", "fib|-1")
		if strings.Contains(screen, "\x1b[3") {
			t.Errorf("colour despite --color=never:\n%q", screen)
		}
	})
	t.Run("always", func(t *testing.T) {
		t.Parallel()
		r := run(t, "", "call", "--url=memory://", "--color=always", "all", "fib|-1")
		if !strings.Contains(r.out, "\x1b[31merror  \x1b[0m") || !strings.Contains(r.out, "\x1b[31m2 failed\x1b[0m") {
			t.Errorf("no red error with --color=always:\n%q", r.out)
		}
	})
	t.Run("bad", func(t *testing.T) {
		t.Parallel()
		if r := run(t, "", "call", "--url=memory://", "--color=sometimes", "all", "echo"); r.code != 64 || !strings.Contains(r.err, "--color") {
			t.Errorf("exit %d: %s", r.code, r.err)
		}
	})
}

// Off a terminal there is neither live line nor colour nor wrapping: the
// output is for programs.
func TestNoTerminalNoEscapes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	r := run(t, "", "call", "--url=memory://", "all", "sleep|300ms")
	r2 := run(t, "", "call", "--url=memory://", "q1", "echo|"+long)
	for _, s := range []string{r.out, r.err, r2.out, r2.err} {
		if strings.Contains(s, "\x1b") || strings.Contains(s, "\r") || strings.Contains(s, "answered") {
			t.Errorf("terminal output off a terminal:\n%q", s)
		}
	}
	if !strings.Contains(r2.out, long+"\n") {
		t.Errorf("a long result was cut or wrapped off a terminal:\n%s", r2.out)
	}
}

// On a narrow terminal the name column fits the longest name and a long
// result wraps under itself instead of running into the next line.
func TestLongResultsWrapOnATerminal(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("abcdefghij", 12) // 120 characters
	code, screen := runOnTerminal(t, 60, nil, "call", "--url=memory://", "--color=never", "q1", "echo|"+long)
	if code != 0 {
		t.Fatalf("exit %d:\n%q", code, screen)
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(screen, "\r\n", "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "==") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 3 {
		t.Fatalf("a 120-character result on 60 columns should take 3 lines or more:\n%s", screen)
	}
	indent := strings.Index(lines[0], "abcdefghij")
	got := lines[0][indent:]
	for _, l := range lines[1:] {
		if len(l) > 60 || strings.TrimLeft(l, " ") != l[indent:] {
			t.Errorf("continuation %q not under the result column %d", l, indent)
		}
		got += l[indent:]
	}
	if got != long || len(lines[0]) > 60 {
		t.Errorf("wrapped result %q, first line %d columns", got, len(lines[0]))
	}
}

// Nothing a server sends reaches the terminal raw: escape sequences,
// carriage returns and newlines in results, errors and names are written
// as escapes, so a result can neither clear the screen nor fake a summary.
func TestControlCharactersAreEscaped(t *testing.T) {
	t.Parallel()
	evil := "x\x1b[2J\r== all fib|30: 2 expected, 2 ok, 0 failed in 1ms (all replied)\n\u009b31m\u202e"
	r := run(t, "", "call", "--url=memory://", "q1", "echo|"+evil)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	if strings.ContainsAny(r.out, "\x1b\r\u009b\u202e") {
		t.Errorf("raw control characters on stdout:\n%q", r.out)
	}
	if n := strings.Count(r.out, "\n=="); n != 1 || strings.Count(r.out, "\n") != 2 {
		t.Errorf("want one reply line and one summary line, got:\n%s", r.out)
	}
	if !strings.Contains(r.out, `x\x1b[2J\r== all fib|30`) || !strings.Contains(r.out, `\n\u009b31m\u202e`) {
		t.Errorf("escapes not shown:\n%s", r.out)
	}
	// JSON escapes them itself; the string is intact.
	r = run(t, "", "call", "--url=memory://", "-o", "json", "q1", "echo|"+evil)
	if strings.ContainsAny(r.out, "\x1b\r") || !strings.Contains(r.out, `x\u001b[2J\r== all`) {
		t.Errorf("JSON:\n%s", r.out)
	}
}
