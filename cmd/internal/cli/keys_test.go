package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

func TestKeygenWritesAPairOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := run(t, "", "keygen", "alice", "--dir", dir)
	priv, pub := filepath.Join(dir, "alice.key"), filepath.Join(dir, "alice.pub")
	if r.code != 0 || r.out != priv+"\n"+pub+"\n" {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	st, err := os.Stat(priv)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("alice.key: %v, mode %v; want 0600", err, st.Mode())
	}
	privText, _ := os.ReadFile(priv)
	pubText, _ := os.ReadFile(pub)
	k, err := domain.ParsePrivateKey(privText)
	if err != nil || k.Name != "alice" {
		t.Fatalf("alice.key: %v, %v", k, err)
	}
	pubs, err := domain.ParsePublicKeys(pubText)
	if err != nil || len(pubs) != 1 || pubs[0].Name != "alice" || !pubs[0].Key.Equal(k.Public().Key) ||
		strings.Count(string(pubText), "\n") != 1 {
		t.Fatalf("alice.pub %q: %v", pubText, err)
	}

	// Never overwritten: both files stay as they were.
	for _, name := range []string{"alice", "bob"} {
		if name == "bob" {
			if err := os.WriteFile(filepath.Join(dir, "bob.pub"), []byte("mine\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r = run(t, "", "keygen", name, "--dir", dir)
		if r.code != 64 || !strings.Contains(r.err, ".pub exists") && !strings.Contains(r.err, ".key exists") {
			t.Errorf("keygen %s again: exit %d\n%s", name, r.code, r.err)
		}
	}
	if again, _ := os.ReadFile(priv); string(again) != string(privText) {
		t.Error("alice.key was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, "bob.key")); err == nil {
		t.Error("bob.key was written beside an existing bob.pub")
	}
	for _, bad := range []string{"a.b", "../x", "@ops"} {
		if r := run(t, "", "keygen", bad, "--dir", dir); r.code != 64 || !strings.Contains(r.err, "identity name") {
			t.Errorf("keygen %q: exit %d %s", bad, r.code, r.err)
		}
	}
}

// keyPair runs keygen for name in dir.
func keyPair(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	if r := run(t, "", "keygen", name, "--dir", dir); r.code != 0 {
		t.Fatalf("keygen %s: %s", name, r.err)
	}
	return filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
}

func TestKeyFlags(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	alicePriv, _ := keyPair(t, keys, "alice")
	q1Priv, _ := keyPair(t, keys, "q1")
	empty := t.TempDir()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.pub"), []byte("# ok\ntopicrpc-ed25519 x AAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(alicePriv, 0o640); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"identity readable by the group", []string{"--identity", alicePriv}, "chmod 600"},
		{"identity of another server", []string{"--identity", q1Priv, "--name", "q2"}, `the key of "q1", not of this server "q2"`},
		{"identity is a public key", []string{"--identity", filepath.Join(keys, "q1.pub")}, "readable or writable by group"},
		{"no .pub files", []string{"--trust-callers", empty}, "no .pub files"},
		{"missing directory", []string{"--trust-callers", filepath.Join(empty, "nope")}, "no such file"},
		{"bad .pub line", []string{"--trust-callers", bad}, "x.pub: bad key: line 2"},
	} {
		args := append([]string{"--url=memory://", "--name=q1"}, tc.args...)
		r := runServer(t.Context(), nil, args...)
		if r.code != 64 || !strings.Contains(r.err, tc.err) || strings.Count(strings.TrimSpace(r.err), "\n") > 1 {
			t.Errorf("%s: exit %d, want 64 with %q\n%s", tc.name, r.code, tc.err, r.err)
		}
	}
	r := run(t, "", "call", "--url=memory://", "--trust-servers", bad, "group1", "echo|hi")
	if r.code != 64 || !strings.Contains(r.err, "--trust-servers "+bad) {
		t.Errorf("client with a bad --trust-servers: exit %d %s", r.code, r.err)
	}
	r = run(t, "", "call", "--url=memory://", "--caller", "a.b", "group1", "echo|hi")
	if r.code != 64 || !strings.Contains(r.err, "--caller") {
		t.Errorf("client with a bad --caller: exit %d %s", r.code, r.err)
	}
	if err := os.Chmod(alicePriv, 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "call", "--url=memory://", "--identity", alicePriv, "--caller", "bob", "group1", "echo|hi")
	if r.code != 64 || !strings.Contains(r.err, "the --identity key names alice") {
		t.Errorf("--caller bob with alice's key: exit %d %s", r.code, r.err)
	}
	r = run(t, "", "call", "--url=memory://", "--identity", alicePriv, "group1", "echo|hi")
	if r.code != 0 || !strings.Contains(r.out, "1 ok") {
		t.Errorf("a call with alice's key on the demo fleet: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

func TestPolicyFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - allow: [alice]\n    args: '(['\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{bad, "--policy " + bad + ": line 3: args"},
		{filepath.Join(dir, "none.yaml"), "no such file"},
	} {
		r := runServer(t.Context(), nil, "--url=memory://", "--name=q1", "--policy", tc.file)
		if r.code != 64 || !strings.Contains(r.err, tc.want) {
			t.Errorf("--policy %s: exit %d, want 64 with %q\n%s", tc.file, r.code, tc.want, r.err)
		}
	}
}
