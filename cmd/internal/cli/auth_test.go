package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

const secretKey = "s3cret-key-material-0123456789-abcdef"

// keyFile writes content to a new file with the given mode.
func keyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// runServer runs topicrpcd until it returns or ctx ends.
func runServer(ctx context.Context, env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	code := cli.RunServer(ctx, args, cli.IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv:        func(k string) string { return env[k] },
		DefaultConfig: noConfig,
	})
	return result{code, out.String(), errb.String()}
}

func TestAuthKeyFile(t *testing.T) {
	t.Parallel()
	good := keyFile(t, secretKey+"\n", 0o600)
	open := keyFile(t, secretKey, 0o644)
	short := keyFile(t, "too short\n", 0o600)
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		err  string // the one line on stderr (exit 64), or "" for none (exit 0)
	}{
		{"signed call", []string{"--auth-key-file", good}, 0, ""},
		{"world readable", []string{"--auth-key-file", open}, 64, "readable or writable by group or others (mode 0644); run chmod 600 " + open},
		{"short", []string{"--auth-key-file", short}, 64, "the key is 9 bytes, at least 32 needed"},
		{"missing", []string{"--auth-key-file", filepath.Join(dir, "nope")}, 64, "open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"directory", []string{"--auth-key-file", dir}, 64, "--auth-key-file " + dir + ": not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"call", "--url=memory://"}, tc.args...)
			r := run(t, "", append(args, "group1", "echo|hi")...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", r.code, tc.code, r.out, r.err)
			}
			switch {
			case tc.err == "":
				// The signed call is answered: q1's line and the summary, nothing on stderr.
				if r.err != "" || !strings.Contains(r.out, "q1 ") || !strings.Contains(r.out, " ok ") ||
					!strings.Contains(r.out, "hi\n") || !strings.Contains(r.out, "1 expected, 1 ok") {
					t.Errorf("signed call:\nstdout: %s\nstderr: %s", r.out, r.err)
				}
			case !strings.HasPrefix(r.err, "topicrpc: ") || !strings.Contains(r.err, tc.err) || r.out != "":
				t.Errorf("want stderr with %q\nstdout: %s\nstderr: %s", tc.err, r.out, r.err)
			}
			if strings.Contains(r.out+r.err, secretKey) {
				t.Error("the key was printed")
			}
		})
	}
}

func TestAuthKeyFileFromEnvironment(t *testing.T) {
	t.Parallel()
	open := keyFile(t, secretKey, 0o640)
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), []string{"call", "--url=memory://", "group1", "echo|hi"}, cli.IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(k string) string {
			if k == "TOPICRPC_AUTH_KEY_FILE" {
				return open
			}
			return ""
		},
	})
	if code != 64 || !strings.Contains(errb.String(), "TOPICRPC_AUTH_KEY_FILE") || !strings.Contains(errb.String(), "chmod 600") {
		t.Errorf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestServerSecurityFlags(t *testing.T) {
	t.Parallel()
	good := keyFile(t, secretKey, 0o600)
	open := keyFile(t, secretKey, 0o604)
	plain := keyFile(t, "not a program", 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		err  string
	}{
		{"key readable by others", []string{"--auth-key-file", open}, nil, "chmod 600"},
		{"key from env readable by others", nil, map[string]string{"TOPICRPC_AUTH_KEY_FILE": open}, "chmod 600"},
		{"exec without =", []string{"--allow-exec", "/bin/echo"}, nil, "want NAME=/absolute/path"},
		{"exec relative", []string{"--allow-exec", "echo=echo"}, nil, "not an absolute path"},
		{"exec missing", []string{"--allow-exec", "x=/no/such/program"}, nil, "no such file"},
		{"exec not executable", []string{"--allow-exec", "x=" + plain}, nil, "not executable"},
		{"exec twice", []string{"--allow-exec", "e=/bin/echo", "--allow-exec", "e=/bin/true"}, nil, "already allowed"},
		{"exec limit", []string{"--allow-exec", "e=/bin/echo", "--exec-output-limit", "0"}, nil, "--exec-output-limit 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runServer(t.Context(), tc.env, append([]string{"--url=memory://", "--name=s1"}, tc.args...)...)
			if r.code != 64 || !strings.Contains(r.err, tc.err) {
				t.Errorf("exit %d, want 64 with %q\n%s%s", r.code, tc.err, r.out, r.err)
			}
		})
	}
	// Good flags: it serves until the context ends, and says so without the key.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	r := runServer(ctx, nil, "--url=memory://", "--name=s1", "--auth-key-file", good, "--allow-exec", "echo=/bin/echo")
	if r.code != 0 || !strings.Contains(r.err, "requests must be signed") || !strings.Contains(r.err, "exec enabled") ||
		strings.Contains(r.err, secretKey) {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.err)
	}
}
