package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Remote exec: the opt-in "exec" command runs one of a fixed set of programs
// and returns its output. Nothing is registered by default (topicrpcd needs
// --allow-exec NAME=/abs/path).
//
// Limits and guarantees of the handler ExecHandler returns:
//
//   - args are "NAME ARG...", split by SplitArgs; no shell ever sees them, so
//     "$(...)", ";", "|", "*" and the like are plain text;
//   - NAME must be a key of the allow map; its program runs with the
//     remaining words as argv[1:];
//   - stdin is empty (/dev/null); the environment is only PATH=/usr/bin:/bin
//     and LANG=C; the working directory is the server's;
//   - stdout and stderr are captured together, in the order written, and
//     capped at the output limit: the rest is read and dropped, and the
//     result ends with "[output truncated at N bytes]";
//   - at the caller's deadline (or when the server stops) the program and
//     its whole process group get SIGKILL; a process of the group still
//     holding the output open ExecWaitDelay after the program exited is
//     killed too. Children that left the group or closed the output outlive
//     the call;
//   - exit 0: the result is the output, trailing newlines removed;
//     a non-zero exit or a signal: an error reply (code failed) naming the
//     exit status, with the output; killed at the deadline: code deadline.

// DefaultExecOutputLimit caps the output of an exec, in bytes.
const DefaultExecOutputLimit = 64 << 10

// ExecWaitDelay is how long exec waits, after the program exited or was
// killed, for the processes it left to release its output.
const ExecWaitDelay = time.Second

// execEnv is the whole environment an exec'd program gets.
var execEnv = []string{"PATH=/usr/bin:/bin", "LANG=C"}

// CheckExecPrograms reports whether every program of an allow map (command
// name -> absolute path) can be exec'd: a well-formed name, an absolute path
// to an existing regular file with an execute bit. Call it at startup, so a
// mistake shows before the first request.
func CheckExecPrograms(programs map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(programs)) {
		path := programs[name]
		switch {
		case name == "" || strings.ContainsAny(name, " \t\n\r\v\f\"\x00"):
			return fmt.Errorf("exec program name %q: want one word", name)
		case !filepath.IsAbs(path):
			return fmt.Errorf("exec program %s: %q is not an absolute path", name, path)
		}
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			return fmt.Errorf("exec program %s: %w", name, err)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("exec program %s: %s is not a regular file", name, path)
		case fi.Mode().Perm()&0o111 == 0:
			return fmt.Errorf("exec program %s: %s is not executable", name, path)
		}
	}
	return nil
}

// ExecHandler returns the handler of the exec command: it runs the program
// programs[NAME] for args "NAME ARG..." as described above, with its output
// capped at limit bytes (DefaultExecOutputLimit when limit <= 0). programs is
// copied; check it with CheckExecPrograms first. The handler is safe for
// concurrent use; each call runs its own process.
func ExecHandler(programs map[string]string, limit int) HandlerFunc {
	if limit <= 0 {
		limit = DefaultExecOutputLimit
	}
	allowed := maps.Clone(programs)
	names := strings.Join(slices.Sorted(maps.Keys(allowed)), ", ")
	return func(ctx context.Context, args string) (string, error) {
		argv, err := SplitArgs(args)
		if err != nil {
			return "", fmt.Errorf("exec: %w", err)
		}
		if len(argv) == 0 {
			return "", fmt.Errorf("%w: exec wants NAME [ARG...]; allowed names: %s", ErrBadArgs, names)
		}
		path, ok := allowed[argv[0]]
		if !ok {
			return "", fmt.Errorf("%w: exec of %q is not allowed; allowed names: %s", ErrBadArgs, argv[0], names)
		}
		return runProgram(ctx, argv[0], path, argv[1:], limit)
	}
}

// runProgram runs path with args and classifies the outcome.
func runProgram(ctx context.Context, name, path string, args []string, limit int) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = execEnv
	out := &cappedOutput{limit: limit}
	cmd.Stdout, cmd.Stderr = out, out // one writer: one pipe, writes in order
	cmd.WaitDelay = ExecWaitDelay
	ownProcessGroup(cmd)
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The program exited but something it started still holds the
		// output: it is in the group, so the group still exists.
		killProcessGroup(cmd)
		err = nil
		if !cmd.ProcessState.Success() {
			err = &exec.ExitError{ProcessState: cmd.ProcessState}
		}
	}
	output := out.String()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return strings.TrimRight(output, "\n"), nil
	case ctx.Err() != nil:
		// ctx.Err, not context.Cause: the server's handler context passes
		// Value lookups to its parent, whose cause is not the deadline.
		return "", fmt.Errorf("exec %s: killed: %w%s", name, ctx.Err(), labelled(output))
	case errors.As(err, &exitErr):
		return "", fmt.Errorf("exec %s: %s%s", name, exitErr.ProcessState, labelled(output))
	}
	return "", fmt.Errorf("exec %s: %w", name, err)
}

// labelled renders the output appended to an error message.
func labelled(output string) string {
	if output == "" {
		return " (no output)"
	}
	return "; output:\n" + strings.TrimRight(output, "\n")
}

// cappedOutput keeps the first limit bytes written to it and counts the
// rest. It never fails a write: the program runs on, its extra output
// dropped, rather than dying of a broken pipe.
type cappedOutput struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int64
}

func (c *cappedOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - len(c.buf)
	if room >= len(p) {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// String returns the kept output, cut on a UTF-8 boundary and marked when
// bytes were dropped.
func (c *cappedOutput) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == 0 {
		return string(c.buf)
	}
	b := c.buf
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i] // a rune cut in half at the cap
			}
			break
		}
	}
	return fmt.Sprintf("%s\n[output truncated at %d bytes]", b, c.limit)
}

// SplitArgs splits s into words, for exec's argv. Words are separated by
// ASCII whitespace. A double-quoted part may hold whitespace and joins the
// text around it ("a b"c is one word, a bc); inside it, \" is a quote and
// \\ a backslash; "" is an empty word. Every other character, single quotes
// and backslashes outside double quotes included, is literal: no variables,
// globs, pipes or other shell syntax. A NUL byte or an unbalanced quote is an
// error wrapping ErrBadArgs.
func SplitArgs(s string) ([]string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("%w: NUL byte in the arguments", ErrBadArgs)
	}
	var (
		words  []string
		word   strings.Builder
		inWord bool // a word is started, maybe empty ("")
		quoted bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
			word.WriteByte(s[i])
		case c == '"':
			quoted, inWord = !quoted, true
		case !quoted && strings.IndexByte(" \t\n\r\v\f", c) >= 0:
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("%w: unbalanced double quote in %q", ErrBadArgs, s)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
