package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

// runDaemon runs topicrpcd in-process; every test here makes it fail
// before it connects.
func runDaemon(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.RunServer(t.Context(), args, cli.IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv:        func(string) string { return "" },
		DefaultConfig: noConfig,
	})
	return result{code, out.String(), errb.String()}
}

// TestUsageErrorsAreOneLine: every mistake on either command line is exit
// 64 with one line on stderr naming what was wrong (plus the --help hint),
// nothing on stdout, and nothing connected.
func TestUsageErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	mem := "--url=memory://"
	long := strings.Repeat("k", 256)
	tests := []struct {
		name string
		prog string
		args []string
		want string // substring of stderr
	}{
		// topicrpc
		{"missing target and command", "topicrpc", []string{"call", mem}, "want TARGET COMMAND"},
		{"missing command", "topicrpc", []string{"call", mem, "group1"}, "want TARGET COMMAND"},
		{"empty command", "topicrpc", []string{"call", mem, "group1", ""}, "empty input"},
		{"empty command name", "topicrpc", []string{"call", mem, "group1", "|x"}, "empty command name"},
		{"bad command name", "topicrpc", []string{"call", mem, "group1", "9lives"}, "must start with a letter"},
		{"command name over 64 bytes", "topicrpc", []string{"call", mem, "group1", strings.Repeat("e", 65)}, "at most 64"},
		{"args not UTF-8", "topicrpc", []string{"call", mem, "group1", "echo|\xff"}, "UTF-8"},
		{"args over the limit", "topicrpc", []string{"call", mem, "group1", "echo|" + strings.Repeat("a", 1<<20+1)}, "at most 1048576"},
		{"empty target", "topicrpc", []string{"call", mem, "", "echo"}, "empty target"},
		{"target over 255 bytes", "topicrpc", []string{"call", mem, long, "echo"}, "at most 255"},
		{"malformed duration", "topicrpc", []string{"call", mem, "--timeout=soon", "all", "echo"}, "invalid argument"},
		{"duration without unit", "topicrpc", []string{"call", mem, "--timeout=5", "all", "echo"}, "missing unit"},
		{"zero timeout", "topicrpc", []string{"call", mem, "--timeout=0s", "all", "echo"}, "--timeout"},
		{"negative timeout", "topicrpc", []string{"call", mem, "--timeout=-1s", "all", "echo"}, "--timeout"},
		{"timeout below a millisecond", "topicrpc", []string{"call", mem, "--timeout=1ns", "all", "echo"}, "from 1ms to 24h"},
		{"timeout over a day", "topicrpc", []string{"call", mem, "--timeout=100000h", "all", "echo"}, "from 1ms to 24h"},
		{"--save-failed unwritable", "topicrpc", []string{"call", mem, "--save-failed=/nonexistent/failed.txt", "all", "echo"}, "--save-failed"},
		{"--expect above the servers reached", "topicrpc", []string{"call", mem, "--expect=3", "all", "echo"}, "--expect 3: all reaches 2 server(s) that are up (q1, q2)"},
		{"--discovery routes without a management API", "topicrpc", []string{"call", "--url=amqp://127.0.0.1:1/", "--discovery=routes", "all", "echo"}, "--discovery routes needs --management-url"},
		{"bad colour", "topicrpc", []string{"call", mem, "--color=pink", "all", "echo"}, "--color"},
		{"unknown flag", "topicrpc", []string{"call", "--nope", "all", "echo"}, "unknown flag"},
		{"unknown shorthand", "topicrpc", []string{"call", "-Z", "all", "echo"}, "unknown shorthand"},
		{"unknown subcommand", "topicrpc", []string{"frob"}, "unknown command"},
		{"bad log level", "topicrpc", []string{"call", mem, "--log-level=loud", "all", "echo"}, "--log-level"},
		{"bad log format", "topicrpc", []string{"call", mem, "--log-format=xml", "all", "echo"}, "--log-format"},
		{"bad output", "topicrpc", []string{"call", mem, "-o", "xml", "all", "echo"}, "--output"},
		{"bad discovery", "topicrpc", []string{"call", mem, "--discovery=psychic", "all", "echo"}, "--discovery"},
		{"empty namespace", "topicrpc", []string{"call", mem, "--namespace=", "all", "echo"}, "--namespace"},
		{"namespace with a wildcard", "topicrpc", []string{"call", mem, "--namespace=a.#", "all", "echo"}, "--namespace"},
		{"negative --expect", "topicrpc", []string{"call", mem, "--expect=-1", "all", "echo"}, "positive"},
		{"--expect not a number", "topicrpc", []string{"call", mem, "--expect=two", "all", "echo"}, "invalid argument"},
		{"--any with --limit", "topicrpc", []string{"call", mem, "--any", "--limit=2", "all", "echo"}, "--any"},
		{"--batch-wait without --batch", "topicrpc", []string{"call", mem, "--batch-wait=1s", "all", "echo"}, "--batch"},
		{"--retry-from a missing file", "topicrpc", []string{"call", mem, "--retry-from=/nonexistent/failed.txt", "all", "echo"}, "--retry-from"},
		{"bad URL scheme", "topicrpc", []string{"call", "--url=ftp://x", "all", "echo"}, "want amqp://"},
		{"unparsable URL", "topicrpc", []string{"call", "--url=amqp://h:port:x/", "all", "echo"}, "--url"},
		{"bad management URL", "topicrpc", []string{"call", "--url=amqp://127.0.0.1:1/", "--management-url=localhost:15672", "all", "echo"}, "--management-url"},
		{"TLS flags with amqp://", "topicrpc", []string{"call", "--url=amqp://127.0.0.1:1/", "--tls-server-name=x", "all", "echo"}, "amqps://"},
		{"TLS certificate without key", "topicrpc", []string{"call", "--url=amqps://127.0.0.1:1/", "--tls-cert=/etc/hostname", "all", "echo"}, "needs --tls-key"},
		{"TLS CA unreadable", "topicrpc", []string{"call", "--url=amqps://127.0.0.1:1/", "--tls-ca=/nonexistent/ca.pem", "all", "echo"}, "--tls-ca"},
		{"servers with two targets", "topicrpc", []string{"servers", mem, "a", "b"}, "at most one TARGET"},
		{"servers target over 255 bytes", "topicrpc", []string{"servers", mem, long}, "at most 255"},
		{"match without key", "topicrpc", []string{"match", "x"}, "want BINDING KEY"},
		{"version with args", "topicrpc", []string{"version", "x"}, "unknown command"},
		// topicrpcd
		{"server without name", "topicrpcd", []string{mem}, "--name is required"},
		{"server with an empty name", "topicrpcd", []string{mem, "--name="}, "--name"},
		{"server name with a dot", "topicrpcd", []string{mem, "--name=a.b"}, "--name"},
		{"server name with a wildcard", "topicrpcd", []string{mem, "--name=a*"}, "--name"},
		{"server name over 255 bytes", "topicrpcd", []string{mem, "--name=" + long}, "--name"},
		{"server named all", "topicrpcd", []string{mem, "--name=all"}, "--name all: reserved"},
		{"server named all with bindings", "topicrpcd", []string{mem, "--name=all", "--bind=x.#"}, "reserved"},
		{"binding over 255 bytes", "topicrpcd", []string{mem, "--name=q1", "--bind=" + long}, "--bind"},
		{"zero concurrency", "topicrpcd", []string{mem, "--name=q1", "--concurrency=0"}, "--concurrency"},
		{"negative concurrency", "topicrpcd", []string{mem, "--name=q1", "--concurrency=-4"}, "--concurrency"},
		{"concurrency not a number", "topicrpcd", []string{mem, "--name=q1", "--concurrency=many"}, "invalid argument"},
		{"negative grace", "topicrpcd", []string{mem, "--name=q1", "--grace=-1s"}, "--grace"},
		{"malformed grace", "topicrpcd", []string{mem, "--name=q1", "--grace=a while"}, "invalid argument"},
		{"zero heartbeat", "topicrpcd", []string{mem, "--name=q1", "--heartbeat=0s"}, "--heartbeat"},
		{"malformed ack-after", "topicrpcd", []string{mem, "--name=q1", "--ack-after=soon"}, "invalid argument"},
		{"ack-after past the progress interval", "topicrpcd", []string{mem, "--name=q1", "--ack-after=2s"}, "--ack-after"},
		{"metrics address without a port", "topicrpcd", []string{mem, "--name=q1", "--metrics-addr=localhost"}, "--metrics-addr"},
		{"empty work group", "topicrpcd", []string{mem, "--name=q1", "--work-group="}, "--work-group"},
		{"server bad log level", "topicrpcd", []string{mem, "--name=q1", "--log-level=chatty"}, "--log-level"},
		{"server bad log format", "topicrpcd", []string{mem, "--name=q1", "--log-format=yaml"}, "--log-format"},
		{"server unknown flag", "topicrpcd", []string{mem, "--name=q1", "--nope"}, "unknown flag"},
		{"server positional argument", "topicrpcd", []string{mem, "--name=q1", "extra"}, "extra"},
		{"server bad URL scheme", "topicrpcd", []string{"--url=http://x", "--name=q1"}, "want amqp://"},
		{"server empty namespace", "topicrpcd", []string{mem, "--name=q1", "--namespace="}, "--namespace"},
		{"server TLS key without certificate", "topicrpcd", []string{"--url=amqps://127.0.0.1:1/", "--name=q1", "--tls-key=/etc/hostname"}, "needs --tls-cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var r result
			if tc.prog == "topicrpcd" {
				r = runDaemon(t, tc.args...)
			} else {
				r = run(t, "", tc.args...)
			}
			if r.code != 64 || !strings.Contains(r.err, tc.want) {
				t.Fatalf("%s: exit %d, want 64 and %q on stderr\nstdout: %.500s\nstderr: %.500s", tc.prog, r.code, tc.want, r.out, r.err)
			}
			lines := strings.Split(strings.TrimRight(r.err, "\n"), "\n")
			if len(lines) > 2 || (len(lines) == 2 && !strings.HasPrefix(lines[1], "Run '")) {
				t.Errorf("want one line (and the --help hint) on stderr, got:\n%.1000s", r.err)
			}
			if !strings.HasPrefix(lines[0], tc.prog+": ") {
				t.Errorf("the line should start with the program's name: %q", lines[0])
			}
			if r.out != "" {
				t.Errorf("nothing should be on stdout, got:\n%.500s", r.out)
			}
		})
	}
}
