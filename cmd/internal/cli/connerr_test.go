package cli_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Connection errors say what is wrong, in one line, with exit 69: a refused
// login (not a timeout), a vhost refused, nothing listening, an unknown
// host, TLS to a port that does not speak it.
func TestConnectionErrorsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	refused := testkit.ClosedAddr(t)
	tests := []struct {
		name   string
		broker bool // needs the test broker
		url    func(broker *url.URL) string
		want   string
	}{
		{"wrong password", true, func(b *url.URL) string {
			b.User = url.UserPassword(b.User.Username(), "wrong-password")
			return b.String()
		}, "login refused: wrong user name or password"},
		{"wrong user", true, func(b *url.URL) string {
			b.User = url.UserPassword("nobody-here", "x")
			return b.String()
		}, "login refused: wrong user name or password"},
		{"unknown vhost", true, func(b *url.URL) string {
			b.Path = "/no-such-vhost"
			return b.String()
		}, "vhost refused"},
		{"TLS to a plain port", true, func(b *url.URL) string {
			b.Scheme = "amqps"
			return b.String()
		}, "does not look like a TLS handshake"},
		{"nothing listens", false, func(*url.URL) string { return "amqp://guest:guest@" + refused + "/" },
			"unreachable: nothing listens there"},
		{"unknown host", false, func(*url.URL) string { return "amqp://guest:guest@no-such-host.invalid:5672/" },
			"unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b *url.URL
			if tc.broker {
				var err error
				if b, err = url.Parse(testkit.EnvBroker(t).URL); err != nil {
					t.Fatal(err)
				}
			}
			begin := time.Now()
			r := run(t, "", "call", "--url", tc.url(b), "all", "echo")
			if r.code != 69 || !strings.Contains(r.err, tc.want) || r.out != "" {
				t.Fatalf("exit %d, want 69 and %q on stderr\nstdout: %s\nstderr: %s", r.code, tc.want, r.out, r.err)
			}
			if strings.Count(strings.TrimSpace(r.err), "\n") != 0 || strings.Contains(r.err, "deadline") {
				t.Errorf("want one line, and no deadline:\n%s", r.err)
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}
