package tls_test

import (
	"fmt"
	"strings"
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
	env.bins.Start(t, "topicrpcd", append(clientFlags(b.TLSURL), "--namespace", ns, "--name", "q1", "--bind", "group1.#")...)

	r := env.bins.Run(t, "", "topicrpc", append(clientFlags(b.TLSURL), "--namespace", ns, "--management-url", b.ManagementURL,
		"call", "group1", "echo|over TLS")...)
	if r.Code != 0 || !strings.Contains(r.Out, "over TLS") || !strings.Contains(r.Out, "1 expected, 1 ok") {
		t.Fatalf("call over TLS: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	// --tls-server-name: the certificate names localhost too.
	r = env.bins.Run(t, "", "topicrpc", append(clientFlags(b.TLSURL), "--tls-server-name", "localhost", "--namespace", ns,
		"--management-url", b.ManagementURL, "call", "q1", "fib|30")...)
	if r.Code != 0 || !strings.Contains(r.Out, "832040") {
		t.Fatalf("call with --tls-server-name localhost: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	t.Logf("topicrpc call over amqps:// with a client certificate: %s for the whole process", r.Took.Round(time.Millisecond))
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
			r := env.bins.Run(t, "", tc.prog, tc.args...)
			if r.Code != 69 {
				t.Fatalf("exit %d, want 69\n%s%s", r.Code, r.Out, r.Err)
			}
			if lines := strings.Count(strings.TrimSpace(r.Err), "\n") + 1; lines != 1 {
				t.Errorf("want one line on stderr, got %d:\n%s", lines, r.Err)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.Err)
				}
			}
			if strings.Contains(r.Err, "guest:guest") || !strings.Contains(r.Err, "xxxxx") {
				t.Errorf("the URL should appear with its password redacted:\n%s", r.Err)
			}
			if r.Took > 10*time.Second {
				t.Errorf("took %s; a refusal must be reported within seconds", r.Took)
			}
			t.Logf("%s: exit 69 after %s: %s", tc.name, r.Took.Round(time.Millisecond), strings.TrimSpace(r.Err))
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
				r := env.bins.Run(t, "", prog, args...)
				if r.Code != 64 || !strings.Contains(r.Err, tc.want) || strings.Count(r.Err, "\n") > 2 {
					t.Errorf("%s: exit %d, want 64 and %q in one line\n%s", prog, r.Code, tc.want, r.Err)
				}
			}
		})
	}
}
