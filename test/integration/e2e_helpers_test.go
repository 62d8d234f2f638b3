package integration_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// fleet is a set of topicrpcd processes in one namespace.
type fleet struct {
	t    *testing.T
	b    *brokertest.Broker
	ns   string
	mgmt bool // clients get --management-url
}

func newFleet(t *testing.T, withManagement bool) *fleet {
	b := brokertest.Get(t)
	return &fleet{t: t, b: b, ns: namespace(t, b), mgmt: withManagement}
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running topicrpcd.
type proc struct {
	*exec.Cmd
	done chan struct{} // closed when it exited; then Cmd.ProcessState is set
}

// exitCode waits up to d for the process to exit and returns its code, or
// -1 if it is still running.
func (p *proc) exitCode(d time.Duration) int {
	select {
	case <-p.done:
		return p.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// server starts topicrpcd and waits until it serves. It is stopped with
// SIGTERM when the test ends.
func (f *fleet) server(name string, args ...string) *proc {
	f.t.Helper()
	argv := append([]string{"--url", f.b.URL, "--namespace", f.ns, "--name", name}, args...)
	cmd := exec.Command(filepath.Join(binDir, "topicrpcd"), argv...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &proc{Cmd: cmd, done: make(chan struct{})}
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); close(p.done); exited <- err }()
	f.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			f.t.Errorf("topicrpcd %s did not stop on SIGTERM:\n%s", name, stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "msg=serving") {
		select {
		case err := <-exited:
			f.t.Fatalf("topicrpcd %s exited: %v\n%s", name, err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("topicrpcd %s not serving after 30s:\n%s", name, stderr.String())
		}
	}
	return p
}

type run struct {
	code     int
	out, err string
	took     time.Duration
}

// client runs topicrpc with the fleet's connection flags.
func (f *fleet) client(stdin string, args ...string) run {
	f.t.Helper()
	argv := append([]string{}, args[0], "--url", f.b.URL, "--namespace", f.ns)
	if f.mgmt {
		argv = append(argv, "--management-url", f.b.ManagementURL)
	}
	argv = append(argv, args[1:]...)
	return runBinary(f.t, stdin, "topicrpc", argv...)
}

func runBinary(t *testing.T, stdin, name string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{out: out.String(), err: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v hung for a minute:\n%s%s", name, args, r.out, r.err)
	}
	return r
}
