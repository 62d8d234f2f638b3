// Package bintest builds the topicrpc and topicrpcd binaries once per test
// package and runs them as processes: to their end (Run), or as a server
// that is stopped when the test ends (Start).
//
//	var bins *bintest.Programs
//
//	func TestMain(m *testing.M) {
//		var remove func()
//		var err error
//		if bins, remove, err = bintest.Build(); err != nil { ... }
//		code := m.Run()
//		remove()
//		os.Exit(code)
//	}
package bintest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Programs is a directory holding the built topicrpc and topicrpcd.
type Programs struct {
	// Dir is the directory.
	Dir string
}

// Build builds topicrpc and topicrpcd into a new temporary directory, with
// the go command on PATH, and returns it with a function that removes it.
// The compiler's output goes to stderr.
func Build() (*Programs, func(), error) {
	dir, err := os.MkdirTemp("", "topicrpc-bin-")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { _ = os.RemoveAll(dir) }
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/topicrpc/topicrpc/cmd/topicrpc", "github.com/topicrpc/topicrpc/cmd/topicrpcd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return nil, nil, fmt.Errorf("build the binaries: %w", err)
	}
	return &Programs{Dir: dir}, remove, nil
}

// Command returns a command running the program named prog with args.
func (p *Programs) Command(prog string, args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(p.Dir, prog), args...)
}

// Result is how a program run ended.
type Result struct {
	Code     int    // exit code
	Out, Err string // stdout and stderr
	Took     time.Duration
}

// runLimit bounds a Run.
const runLimit = time.Minute

// Run runs the program named prog with args and stdin to its end and returns
// how it ended. It fails the test if the program cannot be started or runs
// for a minute.
func (p *Programs) Run(t testing.TB, stdin, prog string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.Dir, prog), args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := Result{Out: out.String(), Err: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %v hung for %v:\n%s%s", prog, args, runLimit, r.Out, r.Err)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return r
}

// Proc is a running server.
type Proc struct {
	*exec.Cmd
	// Stderr is what it wrote to stderr so far (its log).
	Stderr *testkit.LockedBuffer
	done   chan struct{} // closed when it exited; then Cmd.ProcessState is set
}

// ExitCode waits up to d for the process to exit and returns its code, or
// -1 if it is still running.
func (p *Proc) ExitCode(d time.Duration) int {
	select {
	case <-p.done:
		return p.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// AwaitLog waits up to d for the process to log a line containing s, and
// fails the test if it does not.
func (p *Proc) AwaitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !strings.Contains(p.Stderr.String(), s) {
		select {
		case <-deadline:
			t.Fatalf("no %q in the log within %v:\n%s", s, d, p.Stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Start starts the program named prog with args, a server, and returns once
// it logs that it serves (msg=serving), failing the test if it exits first
// or does not serve within 30 s. When the test ends it is stopped with
// SIGTERM; one still running 20 s later is killed and fails the test. A
// failed test logs the program's stderr.
func (p *Programs) Start(t testing.TB, prog string, args ...string) *Proc {
	t.Helper()
	cmd := p.Command(prog, args...)
	stderr := new(testkit.LockedBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc := &Proc{Cmd: cmd, Stderr: stderr, done: make(chan struct{})}
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); close(proc.done); exited <- err }()
	name := prog
	if i := slices.Index(args, "--name"); i >= 0 && i+1 < len(args) {
		name += " " + args[i+1]
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-proc.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM:\n%s", name, stderr.String())
			return
		}
		if t.Failed() {
			t.Logf("%s's log (the test failed):\n%s", name, stderr.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stderr.String(), "msg=serving") {
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", name, err, stderr.String())
		case <-deadline:
			t.Fatalf("%s not serving after 30s:\n%s", name, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return proc
}
