package tls_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clientFlags are the flags that reach the broker over TLS with the client
// certificate.
func clientFlags(url string) []string {
	return []string{"--url", url, "--tls-ca", env.pki.ca, "--tls-cert", env.pki.clientCert, "--tls-key", env.pki.clientKey}
}

// TestTLSEndToEnd runs a server and calls it over amqps:// with client
// certificates, the broker verifying them (verify_peer,
// fail_if_no_peer_cert).
func TestTLSEndToEnd(t *testing.T) {
	t.Parallel()
	b := broker(t)
	ns := fmt.Sprintf("tls%d", time.Now().UnixNano()%1e9)
	serve(t, "topicrpcd", append(clientFlags(b.TLSURL), "--namespace", ns, "--name", "q1", "--bind", "group1.#")...)

	r := run(t, "topicrpc", append(clientFlags(b.TLSURL), "--namespace", ns, "--management-url", b.ManagementURL,
		"call", "group1", "echo|over TLS")...)
	if r.code != 0 || !strings.Contains(r.out, "over TLS") || !strings.Contains(r.out, "1 expected, 1 ok") {
		t.Fatalf("call over TLS: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// --tls-server-name: the certificate names localhost too.
	r = run(t, "topicrpc", append(clientFlags(b.TLSURL), "--tls-server-name", "localhost", "--namespace", ns,
		"--management-url", b.ManagementURL, "call", "q1", "fib|30")...)
	if r.code != 0 || !strings.Contains(r.out, "832040") {
		t.Fatalf("call with --tls-server-name localhost: exit %d\n%s%s", r.code, r.out, r.err)
	}
	t.Logf("topicrpc call over amqps:// with a client certificate: %s for the whole process", r.took.Round(time.Millisecond))
}

// TestTLSRefusals: every way of getting TLS wrong ends in one line on
// stderr, naming the problem, and exit 69 within seconds; the password never
// shows.
func TestTLSRefusals(t *testing.T) {
	t.Parallel()
	b := broker(t)
	p := env.pki
	url := b.TLSURL
	tests := []struct {
		name string
		prog string
		args []string
		want []string // substrings of stderr
	}{
		{"no CA", "topicrpc", []string{"--url", url, "--tls-cert", p.clientCert, "--tls-key", p.clientKey, "call", "all", "echo"},
			[]string{"certificate signed by unknown authority", "--tls-ca"}},
		{"server without CA", "topicrpcd", []string{"--url", url, "--tls-cert", p.clientCert, "--tls-key", p.clientKey, "--name", "q1"},
			[]string{"certificate signed by unknown authority", "--tls-ca"}},
		{"client certificate of another CA", "topicrpc", []string{"--url", url, "--tls-ca", p.ca, "--tls-cert", p.rogueCert, "--tls-key", p.rogueKey, "call", "all", "echo"},
			[]string{"refused the TLS connection"}},
		{"no client certificate", "topicrpc", []string{"--url", url, "--tls-ca", p.ca, "call", "all", "echo"},
			[]string{"client certificate"}},
		{"server certificate as a client's", "topicrpc", []string{"--url", url, "--tls-ca", p.ca, "--tls-cert", p.serverCert, "--tls-key", p.serverKey, "call", "all", "echo"},
			[]string{"refused the TLS connection"}},
		{"wrong server name", "topicrpc", append(clientFlags(url), "--tls-server-name", "broker.example", "call", "all", "echo"),
			[]string{"not broker.example", "--tls-server-name"}},
		{"plain AMQP client on the TLS port", "topicrpc", []string{"--url", strings.Replace(url, "amqps://", "amqp://", 1), "call", "all", "echo"},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.prog, tc.args...)
			if r.code != 69 {
				t.Fatalf("exit %d, want 69\n%s%s", r.code, r.out, r.err)
			}
			if lines := strings.Count(strings.TrimSpace(r.err), "\n") + 1; lines != 1 {
				t.Errorf("want one line on stderr, got %d:\n%s", lines, r.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.err)
				}
			}
			if strings.Contains(r.err, "guest:guest") || !strings.Contains(r.err, "xxxxx") {
				t.Errorf("the URL should appear with its password redacted:\n%s", r.err)
			}
			if r.took > 10*time.Second {
				t.Errorf("took %s; a refusal must be reported within seconds", r.took)
			}
			t.Logf("%s: exit 69 after %s: %s", tc.name, r.took.Round(time.Millisecond), strings.TrimSpace(r.err))
		})
	}
}

// TestTLSUsageErrors: TLS flags that cannot work are usage errors before
// any connection is tried.
func TestTLSUsageErrors(t *testing.T) {
	t.Parallel()
	b := broker(t)
	p := env.pki
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"CA file missing", []string{"--url", b.TLSURL, "--tls-ca", "/nonexistent/ca.pem"}, "--tls-ca"},
		{"CA file not PEM", []string{"--url", b.TLSURL, "--tls-ca", p.ca + ".nope"}, "--tls-ca"},
		{"certificate without key", []string{"--url", b.TLSURL, "--tls-ca", p.ca, "--tls-cert", p.clientCert}, "needs --tls-key"},
		{"key without certificate", []string{"--url", b.TLSURL, "--tls-ca", p.ca, "--tls-key", p.clientKey}, "needs --tls-cert"},
		{"key of another certificate", []string{"--url", b.TLSURL, "--tls-ca", p.ca, "--tls-cert", p.clientCert, "--tls-key", p.rogueKey}, "does not match"},
		{"TLS flags with amqp://", []string{"--url", b.URL, "--tls-ca", p.ca}, "amqps://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, prog := range []string{"topicrpc", "topicrpcd"} {
				args := append(append([]string{}, tc.args...), "--name", "q1")
				if prog == "topicrpc" {
					args = append(append([]string{}, tc.args...), "call", "all", "echo")
				}
				r := run(t, prog, args...)
				if r.code != 64 || !strings.Contains(r.err, tc.want) || strings.Count(r.err, "\n") > 2 {
					t.Errorf("%s: exit %d, want 64 and %q in one line\n%s", prog, r.code, tc.want, r.err)
				}
			}
		})
	}
}

type result struct {
	code     int
	out, err string
	took     time.Duration
}

// run runs one of the binaries to its end, within a minute.
func run(t *testing.T, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.bin, prog), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{out: out.String(), err: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %v hung for a minute:\n%s%s", prog, args, r.out, r.err)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return r
}

// serve starts topicrpcd and waits until it serves; it is stopped with
// SIGTERM when the test ends.
func serve(t *testing.T, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.bin, prog), args...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM:\n%s", prog, stderr.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stderr.String(), "msg=serving") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited: %v\n%s", prog, err, stderr.String())
		case <-deadline:
			t.Fatalf("%s not serving after 30s:\n%s", prog, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lockedBuffer is a bytes.Buffer a process writes while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
