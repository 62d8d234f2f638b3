package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

// noConfig is the default config file of topicrpcd in tests: one that
// does not exist, so that the machine's /etc/topicrpc/topicrpcd.yaml (the
// package installed) has no say.
const noConfig = "/nonexistent/topicrpc/topicrpcd.yaml"

// invocation runs one of the programs with an environment and a default
// config file.
type invocation struct {
	daemon        bool
	env           map[string]string
	defaultConfig string // IO.DefaultConfig; "" means a file that does not exist
}

func (iv invocation) run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	def := iv.defaultConfig
	if def == "" {
		def = filepath.Join(t.TempDir(), "absent.yaml")
	}
	stdio := cli.IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv:        func(k string) string { return iv.env[k] },
		DefaultConfig: def,
	}
	// A daemon that should have refused its configuration stops anyway.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var code int
	if iv.daemon {
		code = cli.RunServer(ctx, args, stdio)
	} else {
		code = cli.Run(ctx, args, stdio)
	}
	return result{code, out.String(), errb.String()}
}

// writeConfig writes a config file into a temporary directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// printedLine is the line of --print-config output for key.
func printedLine(t *testing.T, r result, key string) string {
	t.Helper()
	for _, line := range strings.Split(r.out, "\n") {
		if strings.HasPrefix(line, key+":") {
			return line
		}
	}
	t.Fatalf("--print-config (exit %d) has no %s:\n%s%s", r.code, key, r.out, r.err)
	return ""
}

// TestConfigPrecedence: for each program, a flag beats its environment
// variable, which beats the config file, which beats the default; and
// --print-config says where each value came from.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prog   string
		daemon bool
		args   []string
		// four flags: set at every level, by env and file, by file only, nowhere.
		all, envFile, fileOnly, none [2]string // flag name, default value
	}{
		{"topicrpcd", true, nil, [2]string{"concurrency", "8"}, [2]string{"grace", "10s"}, [2]string{"heartbeat", "5s"}, [2]string{"ack-after", "20ms"}},
		{"topicrpc", false, []string{"call"}, [2]string{"timeout", "10s"}, [2]string{"namespace", "topicrpc"}, [2]string{"log-level", "warn"}, [2]string{"output", "text"}},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			t.Parallel()
			vals := map[string][3]string{ // flag, env, file
				"concurrency": {"3", "4", "5"}, "grace": {"", "7s", "8s"}, "heartbeat": {"", "", "9s"},
				"timeout": {"3s", "4s", "5s"}, "namespace": {"", "fromenv", "fromfile"}, "log-level": {"", "", "error"},
			}
			var file strings.Builder
			env := map[string]string{}
			for _, name := range []string{tc.all[0], tc.envFile[0], tc.fileOnly[0]} {
				file.WriteString(name + ": " + vals[name][2] + "\n")
			}
			for _, name := range []string{tc.all[0], tc.envFile[0]} {
				env["TOPICRPC_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = vals[name][1]
			}
			path := writeConfig(t, file.String())
			args := append(append([]string{}, tc.args...), "--config", path, "--"+tc.all[0]+"="+vals[tc.all[0]][0], "--print-config")
			r := invocation{daemon: tc.daemon, env: env}.run(t, args...)
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s%s", r.code, r.out, r.err)
			}
			for _, want := range []string{
				tc.all[0] + ": " + vals[tc.all[0]][0] + " # flag --" + tc.all[0],
				tc.envFile[0] + ": " + vals[tc.envFile[0]][1] + " # $TOPICRPC_",
				tc.fileOnly[0] + ": " + vals[tc.fileOnly[0]][2] + " # " + path + ":3",
				tc.none[0] + ": " + tc.none[1] + " # default",
			} {
				key, _, _ := strings.Cut(want, ":")
				if got := printedLine(t, r, key); !strings.HasPrefix(got, want) {
					t.Errorf("%s --print-config: %q, want %q…", tc.prog, got, want)
				}
			}
		})
	}
}

// TestConfigFileReachesTheProgram: values from the file are the ones the
// programs run with, not only the ones --print-config shows.
func TestConfigFileReachesTheProgram(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "# the client's defaults\nurl: memory://\noutput: json\n")
	call := []string{"call", "--config", path, "q1", "echo|hi"}
	isJSON := func(out string) bool {
		var obj map[string]any
		return json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &obj) == nil && obj["result"] == "hi"
	}
	if r := (invocation{}).run(t, call...); r.code != 0 || !isJSON(r.out) {
		t.Errorf("output: json in the file: exit %d, want JSON lines:\n%s%s", r.code, r.out, r.err)
	}
	env := map[string]string{"TOPICRPC_OUTPUT": "text"}
	if r := (invocation{env: env}).run(t, call...); r.code != 0 || isJSON(r.out) || !strings.Contains(r.out, "hi") {
		t.Errorf("$TOPICRPC_OUTPUT=text over the file: exit %d, want text:\n%s%s", r.code, r.out, r.err)
	}
	if r := (invocation{env: env}).run(t, append([]string{"-o", "json"}, call...)...); r.code != 0 || !isJSON(r.out) {
		t.Errorf("-o json over $TOPICRPC_OUTPUT: exit %d, want JSON lines:\n%s%s", r.code, r.out, r.err)
	}
	// topicrpcd checks what the file gave it.
	for text, want := range map[string]string{
		"name: all\n":                    "--name all: reserved",
		"name: q1\nconcurrency: 0\n":     "--concurrency 0: want 1 or more",
		"name: q1\nheartbeat: 0s\n":      "--heartbeat 0s",
		"name: q1\ngrace: -1s\n":         "--grace -1s",
		"name: q1\nwork-group: [a, .]\n": "--work-group",
	} {
		r := invocation{daemon: true}.run(t, "--config", writeConfig(t, text), "--url", "memory://")
		if r.code != 64 || !strings.Contains(r.err, want) {
			t.Errorf("topicrpcd with %q: exit %d, want 64 and %q:\n%s", text, r.code, want, r.err)
		}
	}
}

// TestConfigMistakes: each mistake in a config file is exit 64 with one
// line naming the file, the line, the key and what was wanted.
func TestConfigMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		daemon bool
		text   string
		want   []string
	}{
		{"unknown key", true, "name: q1\n\nnmae: q2\n", []string{"line 3:", `unknown key "nmae"`, "did you mean name?"}},
		{"unknown key, client", false, "# comment\ntimeuot: 3s\n", []string{"line 2:", `unknown key "timeuot"`, "did you mean timeout?"}},
		{"unknown key, nothing close", false, "colour-scheme: dark\n", []string{"line 1:", `unknown key "colour-scheme"`}},
		{"nested key", true, "tls:\n  ca: /etc/ca.pem\n", []string{"line 2:", `unknown key "tls.ca"`, "tls-ca"}},
		{"a daemon key in the client's file", false, "concurrency: 3\n", []string{"line 1:", `unknown key "concurrency"`}},
		{"config in a config file", true, "config: /etc/other.yaml\n", []string{"line 1:", "config: not a key of a config file"}},
		{"integer", true, "name: q1\nconcurrency: lots\n", []string{"line 2:", "concurrency: want an integer", `got "lots"`}},
		{"duration", false, "timeout: 10\n", []string{"line 1:", "timeout: want a duration like 10s", `got "10"`}},
		{"bool", true, "no-work: maybe\n", []string{"line 1:", "no-work: want true or false"}},
		{"list for a string", true, "name:\n  - q1\n  - q2\n", []string{"line 1:", "name: want a string, got a list"}},
		{"mapping in a list", true, "bind:\n  - a.#\n  - {b: 1}\n", []string{"line 1:", "bind: want a list of strings, got a list holding a mapping"}},
		{"not a mapping", true, "- name\n", []string{"line 1:", "want a mapping of flag names to values"}},
		{"not YAML", true, "name: [q1\n", []string{"config file"}},
		{"repeated key", true, "name: q1\nname: q2\n", []string{`"name" already defined`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.text)
			args := []string{"--config", path, "--url", "memory://", "--print-config"}
			if !tc.daemon {
				args = append([]string{"servers"}, args...)
			}
			r := invocation{daemon: tc.daemon}.run(t, args...)
			lines := strings.Split(strings.TrimSpace(r.err), "\n")
			if r.code != 64 || r.out != "" || !strings.HasPrefix(lines[0], "topicrpc") || !strings.Contains(lines[0], "config file "+path) {
				t.Fatalf("exit %d, want 64, nothing on stdout and the file named on stderr:\n%s%s", r.code, r.out, r.err)
			}
			for _, want := range tc.want {
				if !strings.Contains(lines[0], want) {
					t.Errorf("error %q lacks %q", lines[0], want)
				}
			}
		})
	}
}

// TestConfigFileLocations: a missing --config file is an error, a missing
// default file is not; the default file is read when it exists (the
// client's under $XDG_CONFIG_HOME, else ~/.config); $TOPICRPC_CONFIG names
// one too; an empty file is no configuration.
func TestConfigFileLocations(t *testing.T) {
	t.Parallel()
	t.Run("missing --config", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		for _, daemon := range []bool{true, false} {
			r := invocation{daemon: daemon}.run(t, "match", "--config", missing, "a.#", "a.b")
			if daemon {
				r = invocation{daemon: daemon}.run(t, "--config", missing, "--name", "q1", "--url", "memory://")
			}
			if r.code != 64 || !strings.Contains(r.err, "--config: open "+missing) {
				t.Errorf("daemon %v: exit %d, want 64 naming the file:\n%s", daemon, r.code, r.err)
			}
		}
		r := invocation{env: map[string]string{"TOPICRPC_CONFIG": missing}}.run(t, "match", "a.#", "a.b")
		if r.code != 64 || !strings.Contains(r.err, "$TOPICRPC_CONFIG: open "+missing) {
			t.Errorf("$TOPICRPC_CONFIG: exit %d, want 64 naming the variable:\n%s", r.code, r.err)
		}
	})
	t.Run("missing default", func(t *testing.T) {
		t.Parallel()
		r := invocation{}.run(t, "match", "a.#", "a.b")
		if r.code != 0 {
			t.Errorf("exit %d, want 0:\n%s", r.code, r.err)
		}
		r = invocation{daemon: true}.run(t, "--print-config")
		if r.code != 0 || !strings.Contains(r.out, "does not exist") {
			t.Errorf("exit %d, want 0 and the absent default named:\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("default file of the daemon", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, "name: fromdefault\n")
		r := invocation{daemon: true, defaultConfig: path}.run(t, "--print-config")
		if got := printedLine(t, r, "name"); got != "name: fromdefault # "+path+":1" {
			t.Errorf("name: %q", got)
		}
	})
	t.Run("client's file under XDG_CONFIG_HOME, else HOME", func(t *testing.T) {
		t.Parallel()
		xdg, home := t.TempDir(), t.TempDir()
		for dir, ns := range map[string]string{filepath.Join(xdg, "topicrpc"): "xdg", filepath.Join(home, ".config", "topicrpc"): "home"} {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("namespace: "+ns+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		run := func(env map[string]string) string {
			var out, errb bytes.Buffer
			code := cli.Run(t.Context(), []string{"servers", "--print-config"}, cli.IO{
				In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] },
			})
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, errb.String())
			}
			return printedLine(t, result{code, out.String(), errb.String()}, "namespace")
		}
		if got := run(map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": home}); !strings.HasPrefix(got, "namespace: xdg #") {
			t.Errorf("with XDG_CONFIG_HOME: %q", got)
		}
		if got := run(map[string]string{"HOME": home}); !strings.HasPrefix(got, "namespace: home #") {
			t.Errorf("with HOME only: %q", got)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		r := invocation{daemon: true}.run(t, "--config", writeConfig(t, "# nothing yet\n"), "--print-config")
		if got := printedLine(t, r, "concurrency"); got != "concurrency: 8 # default" {
			t.Errorf("concurrency: %q", got)
		}
	})
}

// TestConfigLists: a list flag takes a YAML list (or one scalar), its
// variable or its flags replace the file's list whole, and a key of
// another command of the program is accepted.
func TestConfigLists(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "name: q1\nbind:\n  - group1.#\n  - 'group2.*'\nallow-exec: uptime=/usr/bin/uptime\n")
	d := invocation{daemon: true}
	for _, tc := range []struct {
		name string
		iv   invocation
		args []string
		want string
	}{
		{"file", d, nil, "bind: [group1.#, group2.*] # " + path + ":2"},
		{"one scalar is a list of one", d, nil, "allow-exec: [uptime=/usr/bin/uptime] # " + path + ":5"},
		{"variable", invocation{daemon: true, env: map[string]string{"TOPICRPC_BIND": "a.#,b.#"}}, nil, "bind: [a.#, b.#] # $TOPICRPC_BIND"},
		{"flags", d, []string{"--bind", "c.#", "--bind", "d.#"}, "bind: [c.#, d.#] # flag --bind"},
	} {
		r := tc.iv.run(t, append([]string{"--config", path, "--print-config"}, tc.args...)...)
		key, _, _ := strings.Cut(tc.want, ":")
		if got := printedLine(t, r, key); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// One client file serves every command: call's --batch under servers.
	cpath := writeConfig(t, "batch: 5\nurl: memory://\n")
	r := invocation{}.run(t, "servers", "--config", cpath, "--print-config")
	if r.code != 0 || strings.Contains(r.out, "batch") {
		t.Errorf("servers with call's batch in the file: exit %d:\n%s%s", r.code, r.out, r.err)
	}
	r = invocation{}.run(t, "call", "--config", cpath, "--print-config")
	if got := printedLine(t, r, "batch"); got != "batch: 5 # "+cpath+":1" {
		t.Errorf("call: %q", got)
	}
}

// TestPrintConfigRedactsSecrets: passwords in URLs never reach the output,
// from any source; the output is itself a config file giving the same
// configuration.
func TestPrintConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "url: amqp://svc:filepass@broker:5672/prod\nname: q1\nbind: [g.#]\n")
	env := map[string]string{"TOPICRPC_MANAGEMENT_URL": "http://admin:envpass@broker:15672"}
	r := invocation{daemon: true, env: env}.run(t, "--config", path, "--print-config", "--tls-key", "/etc/topicrpc/key.pem")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.err)
	}
	for _, secret := range []string{"filepass", "envpass"} {
		if strings.Contains(r.out+r.err, secret) {
			t.Errorf("the password %q is in the output:\n%s", secret, r.out)
		}
	}
	for _, want := range []string{
		"url: amqp://svc:xxxxx@broker:5672/prod # " + path + ":1",
		"management-url: http://admin:xxxxx@broker:15672 # $TOPICRPC_MANAGEMENT_URL",
		"tls-key: /etc/topicrpc/key.pem # flag --tls-key", // a file name, not a secret
	} {
		key, _, _ := strings.Cut(want, ":")
		if got := printedLine(t, r, key); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
	// Fed back as a config file, the output gives the same values.
	again := invocation{daemon: true}.run(t, "--config", writeConfig(t, r.out), "--print-config")
	if again.code != 0 {
		t.Fatalf("the printed configuration as a file: exit %d:\n%s\n%s", again.code, again.err, r.out)
	}
	for _, key := range []string{"name", "bind", "concurrency", "tls-key", "url"} {
		v1, _, _ := strings.Cut(printedLine(t, r, key), " #")
		v2, _, _ := strings.Cut(printedLine(t, again, key), " #")
		if v1 != v2 {
			t.Errorf("%s: %q, then %q", key, v1, v2)
		}
	}
}

// TestPrintConfigIsAConfigFile: for every command of both programs, what
// --print-config prints reads back as a config file with the same values:
// each flag, present or future, is a key its printed value fits.
func TestPrintConfigIsAConfigFile(t *testing.T) {
	t.Parallel()
	commands := [][]string{nil}
	_, list, _ := strings.Cut(invocation{}.run(t, "--help").out, "Available Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, line := range strings.Split(list, "\n") {
		if c := strings.Fields(line)[0]; c != "help" && c != "completion" {
			commands = append(commands, []string{c})
		}
	}
	if len(commands) < 8 {
		t.Fatalf("found only %v in topicrpc --help", commands)
	}
	values := func(r result) []string {
		var out []string
		for _, line := range strings.Split(r.out, "\n") {
			if v, _, _ := strings.Cut(line, " #"); v != "" && !strings.HasPrefix(line, "#") {
				out = append(out, v)
			}
		}
		return out
	}
	for _, daemon := range []bool{true, false} {
		cmds := commands
		if daemon {
			cmds = [][]string{nil}
		}
		for _, cmd := range cmds {
			iv := invocation{daemon: daemon}
			first := iv.run(t, append(cmd, "--print-config")...)
			if first.code != 0 || len(values(first)) < 5 {
				t.Errorf("daemon %v %v --print-config: exit %d:\n%s%s", daemon, cmd, first.code, first.out, first.err)
				continue
			}
			again := iv.run(t, append(cmd, "--print-config", "--config", writeConfig(t, first.out))...)
			if again.code != 0 {
				t.Errorf("daemon %v %v: its --print-config as a config file: exit %d:\n%s", daemon, cmd, again.code, again.err)
				continue
			}
			if a, b := values(first), values(again); strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Errorf("daemon %v %v: printed\n%s\nthen\n%s", daemon, cmd, strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
		}
	}
}

// TestBrokenConfigLeavesHelpAlone: a config file that cannot be read
// breaks every command that would use it, with one line naming it, but
// not help nor the shell completion scripts (the way to learn the fix).
func TestBrokenConfigLeavesHelpAlone(t *testing.T) {
	t.Parallel()
	broken := writeConfig(t, "timeuot: [3s\n")
	for _, daemon := range []bool{false, true} {
		iv := invocation{daemon: daemon, defaultConfig: broken}
		help := []string{"help"}
		if daemon {
			help = []string{"--help"} // topicrpcd has no subcommands, so no help command
		}
		for _, args := range [][]string{help, {"completion", "bash"}, {"completion", "fish"}} {
			r := iv.run(t, args...)
			if r.code != 0 || r.out == "" {
				t.Errorf("daemon %v, %v with a broken config file: exit %d, stdout %d bytes, want 0 and the text:\n%s", daemon, args, r.code, len(r.out), r.err)
			}
		}
		args := []string{"servers", "--url", "memory://"}
		if daemon {
			args = []string{"--url", "memory://", "--print-config"}
		}
		if r := iv.run(t, args...); r.code != 64 || !strings.Contains(r.err, "config file "+broken) {
			t.Errorf("daemon %v, %v with a broken config file: exit %d, want 64 naming it:\n%s", daemon, args, r.code, r.err)
		}
	}
}
