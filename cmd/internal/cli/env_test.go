package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

// runEnv runs topicrpc with the environment env.
func runEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), args, cli.IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return result{code, out.String(), errb.String()}
}

// TestEveryFlagHasAnEnvironmentVariable: each flag of every command of both
// programs names its variable in --help, TOPICRPC_ and the flag's name.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z-]+)`)
	root := run(t, "", "--help").out
	helps := map[string]string{"topicrpcd": runDaemon(t, "--help").out, "topicrpc": root}
	_, list, _ := strings.Cut(root, "Available Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, line := range strings.Split(list, "\n") {
		if c := strings.Fields(line)[0]; c != "help" {
			helps["topicrpc "+c] = run(t, "", c, "--help").out
		}
	}
	if len(helps) < 10 {
		t.Fatalf("found %d programs and commands in topicrpc --help:\n%s", len(helps), root)
	}
	for prog, help := range helps {
		flags := 0
		for _, line := range strings.Split(help, "\n") {
			m := flagLine.FindStringSubmatch(line)
			if m == nil || m[1] == "help" || m[1] == "version" {
				continue
			}
			flags++
			want := "[$TOPICRPC_" + strings.ToUpper(strings.ReplaceAll(m[1], "-", "_")) + "]"
			if !strings.Contains(line, want) && prog != "topicrpc completion" {
				t.Errorf("%s --help: --%s does not name %s:\n%s", prog, m[1], want, line)
			}
		}
		if flags == 0 && prog != "topicrpc completion" {
			t.Errorf("%s --help lists no flags:\n%s", prog, help)
		}
	}
}

func TestEnvironmentVariablesSetFlags(t *testing.T) {
	t.Parallel()
	mem := "--url=memory://"
	t.Run("TOPICRPC_OUTPUT", func(t *testing.T) {
		t.Parallel()
		r := runEnv(t, map[string]string{"TOPICRPC_OUTPUT": "json"}, "call", mem, "q1", "echo|hi")
		var obj map[string]any
		if r.code != 0 || json.Unmarshal([]byte(strings.Split(r.out, "\n")[0]), &obj) != nil || obj["result"] != "hi" {
			t.Fatalf("exit %d, want JSON lines:\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("the flag wins", func(t *testing.T) {
		t.Parallel()
		r := runEnv(t, map[string]string{"TOPICRPC_OUTPUT": "json"}, "call", mem, "-o", "text", "q1", "echo|hi")
		if r.code != 0 || strings.HasPrefix(r.out, "{") || !strings.Contains(r.out, "hi") {
			t.Fatalf("exit %d, want text:\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("TOPICRPC_URL", func(t *testing.T) {
		t.Parallel()
		r := runEnv(t, map[string]string{"TOPICRPC_URL": "memory://"}, "call", "q2", "echo|hi")
		if r.code != 0 || !strings.Contains(r.out, "hi") {
			t.Fatalf("exit %d:\n%s%s", r.code, r.out, r.err)
		}
	})
	for _, tc := range []struct{ name, value, err string }{
		{"TOPICRPC_NAMESPACE", "a.#", "--namespace"},
		{"TOPICRPC_TIMEOUT", "soon", "$TOPICRPC_TIMEOUT: "},
		{"TOPICRPC_EXPECT", "-2", "positive"},
		{"TOPICRPC_LOG_LEVEL", "loud", "--log-level"},
	} {
		t.Run(tc.name+" checked", func(t *testing.T) {
			t.Parallel()
			r := runEnv(t, map[string]string{tc.name: tc.value}, "call", mem, "q1", "echo|hi")
			if r.code != 64 || !strings.Contains(r.err, tc.err) {
				t.Fatalf("%s=%s: exit %d, want 64 and %q:\n%s%s", tc.name, tc.value, r.code, tc.err, r.out, r.err)
			}
		})
	}
}

// TestServerFlagsFromTheEnvironment: topicrpcd takes its name and a
// comma-separated list of bindings from the environment.
func TestServerFlagsFromTheEnvironment(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &untilWriter{want: "msg=serving", done: cancel}
	env := map[string]string{"TOPICRPC_URL": "memory://", "TOPICRPC_NAME": "q9", "TOPICRPC_BIND": "group1.#, group2.*"}
	code := cli.RunServer(ctx, nil, cli.IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: logs,
		Getenv: func(k string) string { return env[k] }, DefaultConfig: noConfig})
	got := logs.String()
	if code != 0 || !strings.Contains(got, `msg=serving name=q9 bindings="[all.# q9.# group1.# group2.*]"`) {
		t.Fatalf("exit %d:\n%s", code, got)
	}
}

// untilWriter keeps what is written, and calls done once it holds want.
type untilWriter struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	done func()
}

func (w *untilWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.done()
	}
	return len(p), nil
}

func (w *untilWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestVersion(t *testing.T) {
	t.Parallel()
	want := regexp.MustCompile(`^(topicrpcd?) \d+\.\d+\.\d+ \(commit [^;]+; go\S+ \S+/\S+\)\n$`)
	for _, r := range []result{run(t, "", "--version"), run(t, "", "version"), runDaemon(t, "--version")} {
		if r.code != 0 || !want.MatchString(r.out) || r.err != "" {
			t.Errorf("exit %d, want one version line:\n%q\n%s", r.code, r.out, r.err)
		}
	}
	if r := runDaemon(t, "--version"); !strings.HasPrefix(r.out, "topicrpcd ") {
		t.Errorf("topicrpcd --version: %q", r.out)
	}
}
