package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

var servingLine = regexp.MustCompile(`topicrpc web: serving (http://\S+)`)

// startWeb runs topicrpc web with args on the demo fleet until the test
// ends, and returns the line it printed when it began serving.
func startWeb(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := new(testkit.LockedBuffer)
	errb := new(testkit.LockedBuffer)
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, append([]string{"web", "--url", "memory://"}, args...), cli.IO{
			In: strings.NewReader(""), Out: out, Err: errb, Getenv: func(string) string { return "" }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("topicrpc web did not stop when its context ended")
		}
	})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := servingLine.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("topicrpc web exited %d:\n%s%s", code, out.String(), errb.String())
		default:
		}
	}
	t.Fatalf("topicrpc web not serving:\n%s%s", out.String(), errb.String())
	return ""
}

// TestWebOffLoopbackNeedsAToken: on an address beyond loopback the
// console makes up a token, prints the address with it, and serves
// nothing without it.
func TestWebOffLoopbackNeedsAToken(t *testing.T) {
	t.Parallel()
	addr := startWeb(t, "--listen", "0.0.0.0:0")
	u, tok, ok := strings.Cut(addr, "?token=")
	if !ok || len(tok) < 24 {
		t.Fatalf("printed %q; want the address with a token", addr)
	}
	u = strings.Replace(u, "0.0.0.0", "127.0.0.1", 1)
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(u + "api/preview?target=all")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %s; want 401", resp.Status)
	}
	resp, err = noRedirect.Get(u + "?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("with the token: %s, cookies %v; want a session and 303", resp.Status, resp.Cookies())
	}
}

// TestWebOnLoopbackServes: on loopback the console serves the demo fleet
// without a token.
func TestWebOnLoopbackServes(t *testing.T) {
	t.Parallel()
	addr := startWeb(t, "--listen", "127.0.0.1:0")
	if strings.Contains(addr, "token") {
		t.Fatalf("printed %q: no token on loopback", addr)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(addr + "api/preview?target=group1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"name":"q1"`) || strings.Contains(string(b), `"name":"q2"`) {
		t.Fatalf("preview of group1: %s %s; want q1 alone", resp.Status, b)
	}
}

// TestWebFlags: a bad --listen or --token-file is a one-line usage error.
func TestWebFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("0123456789abcdef0123"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "nonsense"}, "want HOST:PORT"},
		{[]string{"--token-file", open}, "chmod 600"},
		{[]string{"--token-file", short}, "at least 16 needed"},
		{[]string{"--token-file", filepath.Join(dir, "missing")}, "no such file"},
	} {
		r := run(t, "", append([]string{"web", "--url", "memory://"}, tc.args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.err, tc.want) || strings.Count(strings.TrimSpace(r.err), "\n") > 1 {
			t.Errorf("web %v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.err, cli.ExitUsage, tc.want)
		}
	}
}
