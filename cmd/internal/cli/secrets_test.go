package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Passwords the tests put in URLs; none may ever be printed.
const (
	secret     = "S3cr3t-P4ss"
	mgmtSecret = "M4nage-S3cret"
	// encoded is a password with reserved characters, percent-encoded in
	// the URL; neither form may be printed.
	encoded, decoded = "p%40ss%2Fw0rd%3A%23", "p@ss/w0rd:#"
)

// TestPasswordsAreNeverPrinted runs both programs in-process with URLs
// holding passwords that cannot work (refused, unreachable, a peer that
// hangs up or speaks another protocol, bad schemes, unparsable URLs, a
// management API that is down), with debug logs in text and JSON, and
// checks that no password appears on stdout or stderr, in any form.
func TestPasswordsAreNeverPrinted(t *testing.T) {
	t.Parallel()
	refused := testkit.ClosedAddr(t)
	hangsUp := testkit.Listen(t, func(c net.Conn) { c.Close() })
	speaksHTTP := testkit.Listen(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		c.Close()
	})
	silent := testkit.Listen(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	checkNoPasswordPrinted(t, []secretCase{
		{"refused", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", refused, secret), "all", "echo"}, 69},
		{"refused, amqps", "topicrpc", nil, []string{"call", "--url", withPassword("amqps", refused, secret), "all", "echo"}, 69},
		{"refused, encoded password", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", refused, encoded), "all", "echo"}, 69},
		{"unreachable host", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", "192.0.2.1:5672", secret), "all", "echo"}, 69},
		{"peer hangs up", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", hangsUp, secret), "all", "echo"}, 69},
		{"peer hangs up, encoded password", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", hangsUp, encoded), "all", "echo"}, 69},
		{"peer speaks HTTP", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", speaksHTTP, secret), "all", "echo"}, 69},
		{"peer stays silent", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", silent, secret), "all", "echo"}, 69},
		{"TLS to a plain peer", "topicrpc", nil, []string{"call", "--url", withPassword("amqps", speaksHTTP, secret), "all", "echo"}, 69},
		{"bad scheme", "topicrpc", nil, []string{"call", "--url", withPassword("ftp", refused, secret), "all", "echo"}, 64},
		{"unparsable URL", "topicrpc", nil, []string{"call", "--url", "amqp://user:" + secret + "@host:port:x/", "all", "echo"}, 64},
		{"unescaped @ in the password", "topicrpc", nil, []string{"call", "--url", "amqp://user:" + secret + "@x@" + refused + "/", "all", "echo"}, 69},
		{"management URL with a bad scheme", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", refused, secret),
			"--management-url", "ftp://admin:" + mgmtSecret + "@" + refused, "all", "echo"}, 64},
		{"management URL unparsable", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", refused, secret),
			"--management-url", "http://admin:" + mgmtSecret + "@host:port:x", "all", "echo"}, 64},
		{"management URL, broker refused", "topicrpc", nil, []string{"call", "--url", withPassword("amqp", refused, secret),
			"--management-url", "http://admin:" + mgmtSecret + "@" + refused, "all", "echo"}, 69},
		{"URLs from the environment", "topicrpc", map[string]string{
			"TOPICRPC_URL":            withPassword("amqp", refused, secret),
			"TOPICRPC_MANAGEMENT_URL": "http://admin:" + mgmtSecret + "@" + refused},
			[]string{"call", "all", "echo"}, 69},
		{"TLS flags with a bad file", "topicrpc", nil, []string{"call", "--url", withPassword("amqps", refused, secret), "--tls-ca", "/nonexistent", "all", "echo"}, 64},
		{"servers", "topicrpc", nil, []string{"servers", "--url", withPassword("amqp", refused, secret)}, 69},
		{"shell", "topicrpc", nil, []string{"shell", "--url", withPassword("amqp", hangsUp, secret)}, 69},
		{"server refused", "topicrpcd", nil, []string{"--url", withPassword("amqp", refused, secret), "--name", "q1"}, 69},
		{"server, encoded password", "topicrpcd", nil, []string{"--url", withPassword("amqp", speaksHTTP, encoded), "--name", "q1"}, 69},
		{"server, bad scheme", "topicrpcd", nil, []string{"--url", withPassword("http", refused, secret), "--name", "q1"}, 64},
		{"server, management URL", "topicrpcd", nil, []string{"--url", withPassword("amqp", refused, secret),
			"--management-url", "http://admin:" + mgmtSecret + "@" + refused, "--name", "q1"}, 69},
		{"server, URL from the environment", "topicrpcd", map[string]string{"TOPICRPC_URL": withPassword("amqp", hangsUp, secret)},
			[]string{"--name", "q1"}, 69},
	}, nil)
}

// TestPasswordsAreNeverPrintedWithABroker: a wrong password, and a
// management API that is down or refuses the password, behind a broker that
// works.
func TestPasswordsAreNeverPrintedWithABroker(t *testing.T) {
	t.Parallel()
	b := testkit.EnvBroker(t)
	refused := testkit.ClosedAddr(t)
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	wrong := *u
	wrong.User = url.UserPassword(u.User.Username(), secret)
	ns := "secrets" + time.Now().Format("150405.000000")
	mgmt, err := url.Parse(b.Management(t))
	if err != nil {
		t.Fatal(err)
	}
	mgmt.User = url.UserPassword("admin", mgmtSecret)
	checkNoPasswordPrinted(t, []secretCase{
		{"wrong password", "topicrpc", nil, []string{"call", "--url", wrong.String(), "all", "echo"}, 69},
		{"server, wrong password", "topicrpcd", nil, []string{"--url", wrong.String(), "--name", "q1"}, 69},
		// Routes cannot be read: the client warns and carries on, and
		// nothing is bound in the fresh namespace: exit 3.
		{"management API down", "topicrpc", nil, []string{"call", "--url", b.URL, "--namespace", ns,
			"--management-url", "http://admin:" + mgmtSecret + "@" + refused, "all", "echo"}, 3},
		{"management API refuses the password", "topicrpc", nil,
			[]string{"call", "--url", b.URL, "--namespace", ns, "--management-url", mgmt.String(), "all", "echo"}, 3},
	}, map[string]string{ // what the management API cases must say, the password redacted
		"management API down":                 "management API http://admin:xxxxx@" + refused,
		"management API refuses the password": "answered 401 Unauthorized",
	})
}

// withPassword returns a URL of scheme to addr with the password pw.
func withPassword(scheme, addr, pw string) string { return scheme + "://user:" + pw + "@" + addr + "/" }

// secretCase is one run of a program whose output must not show a password.
type secretCase struct {
	name string
	prog string // topicrpc or topicrpcd
	env  map[string]string
	args []string
	code int // the exit code it must end with
}

// checkNoPasswordPrinted runs each case in-process with debug logs in text
// and in JSON, and checks its exit code, that its output says what mentions
// holds for it (by name), and that no password appears on stdout or stderr,
// in any form.
func checkNoPasswordPrinted(t *testing.T, tests []secretCase, mentions map[string]string) {
	t.Helper()
	for _, tc := range tests {
		for _, format := range []string{"text", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				args := append([]string{"--log-level", "debug", "--log-format", format, "--fx-log"}, tc.args...)
				if tc.prog == "topicrpc" { // the subcommand first
					args = append([]string{tc.args[0], "--log-level", "debug", "--log-format", format, "--fx-log"}, tc.args[1:]...)
				}
				var out, errb bytes.Buffer
				stdio := cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return tc.env[k] }, DefaultConfig: noConfig}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				var code int
				if tc.prog == "topicrpcd" {
					code = cli.RunServer(ctx, args, stdio)
				} else {
					code = cli.Run(ctx, args, stdio)
				}
				all := out.String() + errb.String()
				if code != tc.code {
					t.Errorf("exit %d, want %d\n%s", code, tc.code, all)
				}
				if code == 0 {
					t.Errorf("exit 0: the call should have failed\n%s", all)
				}
				if m := mentions[tc.name]; m != "" && !strings.Contains(all, m) {
					t.Errorf("the output does not say %q:\n%s", m, all)
				}
				for _, s := range []string{secret, mgmtSecret, encoded, decoded, url.QueryEscape(decoded)} {
					if strings.Contains(all, s) {
						t.Errorf("the password %q was printed:\n%s", s, all)
					}
				}
				if strings.TrimSpace(all) == "" {
					t.Error("nothing was printed")
				}
			})
		}
	}
}
