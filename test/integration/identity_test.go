package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
)

// Identities and policy end to end: key pairs made by topicrpc keygen,
// topicrpcd with --identity, --trust-callers, --policy and --audit-log,
// topicrpc with --identity and --trust-servers. docs/SECURITY.md records
// what these show.

// keyDirs makes key pairs with topicrpc keygen: callers' and servers'
// private keys in priv, and the public keys in callers/ and servers/ (what
// servers and clients are given).
type keyDirs struct{ priv, callers, servers string }

func makeKeys(t *testing.T, callers, servers []string) keyDirs {
	t.Helper()
	root := t.TempDir()
	k := keyDirs{priv: filepath.Join(root, "private"), callers: filepath.Join(root, "callers"), servers: filepath.Join(root, "servers")}
	for _, d := range []string{k.priv, k.callers, k.servers} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, group := range []struct {
		names []string
		pubs  string
	}{{callers, k.callers}, {servers, k.servers}} {
		for _, name := range group.names {
			if r := bins.Run(t, "", "topicrpc", "keygen", name, "--dir", k.priv); r.Code != 0 {
				t.Fatalf("keygen %s: exit %d %s", name, r.Code, r.Err)
			}
			if err := os.Rename(filepath.Join(k.priv, name+".pub"), filepath.Join(group.pubs, name+".pub")); err != nil {
				t.Fatal(err)
			}
		}
	}
	return k
}

func (k keyDirs) key(name string) string { return filepath.Join(k.priv, name+".key") }

// readAudit returns the audit log's records once it has n of them (10 s at most).
func readAudit(t *testing.T, path string, n int) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for wait := time.Now().Add(10 * time.Second); len(lines) < n && time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(path)
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				lines = append(lines, m)
			}
		}
	}
	if len(lines) < n {
		t.Fatalf("audit log has %d records, want %d", len(lines), n)
	}
	return lines
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An Ed25519 caller the policy allows runs; one it does not is refused
// forbidden, the reason shown to the caller and in the audit log; a caller
// whose key the server does not trust is refused unauthorized. SIGHUP
// reloads the policy: the same call flips from refused to allowed, and a
// broken file keeps the policy in place.
func TestIdentityAndPolicyEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	k := makeKeys(t, []string{"alice", "bob"}, []string{"p1"})
	mallory := makeKeys(t, []string{"mallory"}, nil)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, policy, "rules:\n  - allow: [alice]\n    commands: [echo]\n")
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	p1 := f.server("p1", "--identity", k.key("p1"), "--trust-callers", k.callers, "--policy", policy, "--audit-log", audit)
	p1.AwaitLog(t, "rules=1", time.Second)
	call := func(keyPath, command string) (int, summaryLine, string) {
		r := f.client("", "call", "--identity", keyPath, "--trust-servers", k.servers, "--timeout", "5s", "-o", "json", "p1", command)
		return r.Code, lastSummary(t, r.Out), r.Out + r.Err
	}

	if code, s, out := call(k.key("alice"), "echo|hi"); code != 0 || s.OK != 1 || s.Forged != 0 {
		t.Fatalf("alice: exit %d %+v\n%s", code, s, out)
	}
	code, s, out := call(k.key("bob"), "echo|hi")
	if code != 1 || !strings.Contains(out, `"code":"forbidden"`) ||
		!strings.Contains(out, "forbidden: bob may not run echo on p1: no rule allows it") {
		t.Fatalf("bob: exit %d %+v\n%s", code, s, out)
	}
	text := f.client("", "call", "--identity", k.key("bob"), "--trust-servers", k.servers, "--timeout", "5s", "p1", "echo|hi")
	if text.Code != 1 || !strings.Contains(text.Out, "forbidden") || !strings.Contains(text.Out, "no rule allows it") {
		t.Errorf("bob, text output: exit %d\n%s", text.Code, text.Out)
	}
	code, _, out = call(mallory.key("mallory"), "echo|hi")
	if code != 1 || !strings.Contains(out, `"code":"unauthorized"`) || !strings.Contains(out, `no trusted key for the caller: \"mallory\"`) {
		t.Fatalf("mallory: exit %d\n%s", code, out)
	}
	recs := readAudit(t, audit, 4)
	for i, want := range []struct{ caller, auth, outcome string }{
		{"alice", "key", "ok"}, {"bob", "key", "forbidden"}, {"bob", "key", "forbidden"}, {"mallory", "unverified", "unauthorized"},
	} {
		if r := recs[i]; r["caller"] != want.caller || r["auth"] != want.auth || r["outcome"] != want.outcome {
			t.Errorf("audit record %d: %v, want %+v", i, r, want)
		}
	}
	if r, _ := recs[1]["reason"].(string); !strings.Contains(r, "no rule allows it") {
		t.Errorf("the audit record of bob's refusal has no reason: %v", recs[1])
	}

	// SIGHUP with a policy that lets bob run echo: the same call runs.
	writeFile(t, policy, "groups:\n  team: [alice, bob]\nrules:\n  - allow: ['@team']\n    commands: [echo]\n    args: 'hi|ho'\n")
	if err := p1.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p1.AwaitLog(t, "policy reloaded", 5*time.Second)
	if code, s, out := call(k.key("bob"), "echo|hi"); code != 0 || s.OK != 1 {
		t.Fatalf("bob after the reload: exit %d %+v\n%s", code, s, out)
	}
	// A broken file: one log line naming the line, the policy in place kept.
	writeFile(t, policy, "rules:\n  - allow: [bob]\n    comands: [echo]\n")
	if err := p1.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p1.AwaitLog(t, "policy not reloaded", 5*time.Second)
	if !strings.Contains(p1.Stderr.String(), `line 3: unknown key \"comands\"`) {
		t.Errorf("the reload error does not name the line:\n%s", p1.Stderr.String())
	}
	if code, s, out := call(k.key("bob"), "echo|ho"); code != 0 || s.OK != 1 {
		t.Fatalf("bob after a broken reload: exit %d %+v\n%s", code, s, out)
	}
	if code, _, out := call(k.key("bob"), "echo|hey"); code != 1 || !strings.Contains(out, "forbidden") {
		t.Fatalf("args outside the pattern: exit %d\n%s", code, out)
	}

	// Key rotation without a restart: mallory's key added, alice's removed,
	// SIGHUP. Mallory is now proven (and the policy, not the key, refuses
	// her); alice is unknown.
	mpub, err := os.ReadFile(filepath.Join(mallory.callers, "mallory.pub"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(k.callers, "mallory.pub"), string(mpub))
	if err := os.Remove(filepath.Join(k.callers, "alice.pub")); err != nil {
		t.Fatal(err)
	}
	if err := p1.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p1.AwaitLog(t, "trusted caller keys reloaded", 5*time.Second)
	if code, _, out := call(mallory.key("mallory"), "echo|hi"); code != 1 || !strings.Contains(out, "forbidden: mallory may not run echo") {
		t.Fatalf("mallory after the rotation: exit %d\n%s", code, out)
	}
	if code, _, out := call(k.key("alice"), "echo|hi"); code != 1 || !strings.Contains(out, `no trusted key for the caller: \"alice\"`) {
		t.Fatalf("alice after her key was removed: exit %d\n%s", code, out)
	}
	if p1.ExitCode(0) != -1 {
		t.Fatal("p1 exited")
	}
}

// An impostor answering as p1, its replies signed with a key of its own
// named p1: a client given p1's real public key refuses and counts them,
// and shows p1's real answer.
func TestAttackWrongServerKey(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	k := makeKeys(t, nil, []string{"p1"})
	f.server("p1", "--identity", k.key("p1"))
	impostor, err := domain.GenerateKey("p1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := newAttacker(t, f)
	seen := a.sniff()
	ch := amqptest.Channel(t, f.b.URL)
	go func() {
		for d := range seen {
			r := domain.Reply{CallID: d.CorrelationId, Server: "p1", Kind: domain.KindResult, Result: "FORGED"}
			domain.Signer{Key: &impostor}.SignReply(&r)
			_ = ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp091.Publishing{
				CorrelationId: d.CorrelationId, AppId: "p1", Type: "result", Body: []byte(r.Result),
				Headers: amqp091.Table{"topicrpc-signature": base64.StdEncoding.EncodeToString([]byte(r.Signature))},
			})
		}
	}()
	r := f.client("", "call", "--trust-servers", k.servers, "--timeout", "10s", "-o", "json", "p1", "sleep|300ms")
	s := lastSummary(t, r.Out)
	if r.Code != 0 || s.OK != 1 || strings.Contains(r.Out, "FORGED") || s.Forged < 1 || !slices.Equal(s.ForgedClaims, []string{"p1"}) {
		t.Fatalf("exit %d %+v; want p1's real answer, the impostor's counted\n%s%s", r.Code, s, r.Out, r.Err)
	}
	// Without p1's key the client believes whatever comes first: the
	// impostor's answer (what --trust-servers protects against).
	r = f.client("", "call", "--timeout", "10s", "-o", "json", "p1", "sleep|300ms")
	if !strings.Contains(r.Out, "FORGED") {
		t.Errorf("without --trust-servers the forged answer was not the one shown:\n%s", r.Out)
	}
}

// topicrpc keygen refuses to overwrite a key and writes it mode 600.
func TestKeygenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := bins.Run(t, "", "topicrpc", "keygen", "q9", "--dir", dir); r.Code != 0 {
		t.Fatalf("keygen: exit %d %s", r.Code, r.Err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "q9.key"))
	st, err := os.Stat(filepath.Join(dir, "q9.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("q9.key: mode %v, %v", st.Mode().Perm(), err)
	}
	r := bins.Run(t, "", "topicrpc", "keygen", "q9", "--dir", dir)
	after, _ := os.ReadFile(filepath.Join(dir, "q9.key"))
	if r.Code != 64 || !strings.Contains(r.Err, "exists") || string(after) != string(before) {
		t.Fatalf("keygen again: exit %d %s; key changed: %v", r.Code, r.Err, string(after) != string(before))
	}
}
