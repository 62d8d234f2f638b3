package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

func newKey(t testing.TB, name string) *domain.PrivateKey {
	t.Helper()
	k, err := domain.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

func auditRecords(t *testing.T, log string) []app.AuditRecord {
	t.Helper()
	var recs []app.AuditRecord
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var r app.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

// TestCallerAndServerKeys: a server trusting alice's public key runs her
// signed requests and names her in the audit log as proven; bob, whose key
// it does not trust, is refused; the server signs its replies with its own
// key, and a client holding another key for that server name refuses them
// as forged.
func TestCallerAndServerKeys(t *testing.T) {
	t.Parallel()
	alice, bob, s1, fake := newKey(t, "alice"), newKey(t, "bob"), newKey(t, "s1"), newKey(t, "s1")
	tr := testkit.MemoryTransport(t)
	var audit, logs testkit.LockedBuffer
	srv := app.NewServer(tr, app.ServerConfig{Name: "s1", CallerKeys: domain.NewKeyring(alice.Public()), Identity: s1,
		Middleware: []app.Middleware{app.Audit(&audit, app.AuditArgsNone)}}, slog.New(slog.NewTextHandler(&logs, nil)))
	testkit.Start(t, srv, 0)
	servers := domain.NewKeyring(s1.Public())
	client := func(id *domain.PrivateKey, serverKeys *domain.Keyring) *app.Client {
		return app.NewClient(tr, app.ClientConfig{Timeout: 2 * time.Second, Identity: id, ServerKeys: serverKeys}, quiet)
	}

	sum, outs := do(t, client(alice, servers), "s1", "echo|hi")
	if o := outs["s1"]; o.State != domain.StateOK || o.Reply.Result != "hi" || sum.Forged != 0 {
		t.Fatalf("alice: %+v %+v", o, sum)
	}
	sum, outs = do(t, client(bob, servers), "s1", "echo|hi")
	if o := outs["s1"]; o.Reply.Code != domain.CodeUnauthorized || !strings.Contains(o.Reply.Error, "no trusted key for the caller") {
		t.Fatalf("bob: %+v %+v", o, sum)
	}
	sum, outs = do(t, client(alice, domain.NewKeyring(fake.Public())), "s1", "echo|hi")
	if o := outs["s1"]; o.State != domain.StateNotReceived || sum.Forged != 1 || !slices.Equal(sum.ForgedClaims, []string{"s1"}) {
		t.Fatalf("a client with another key for s1: %+v %+v", o, sum)
	}
	// Unsigned, with a claimed name: refused, the name kept in the audit log.
	unsigned := app.NewClient(tr, app.ClientConfig{Timeout: 2 * time.Second, Caller: "alice"}, quiet)
	if _, outs = do(t, unsigned, "s1", "echo|hi"); outs["s1"].Reply.Code != domain.CodeUnauthorized {
		t.Fatalf("unsigned: %+v", outs["s1"])
	}

	recs := auditRecords(t, audit.String())
	want := []struct{ caller, auth, outcome string }{
		{"alice", "key", "ok"}, {"bob", "unverified", domain.CodeUnauthorized}, {"alice", "key", "ok"},
		{"alice", "unverified", domain.CodeUnauthorized},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d audit records, want %d:\n%s", len(recs), len(want), audit.String())
	}
	for i, w := range want {
		if r := recs[i]; r.Caller != w.caller || r.Auth != w.auth || r.Outcome != w.outcome {
			t.Errorf("audit record %d: caller %q auth %q outcome %q, want %+v", i, r.Caller, r.Auth, r.Outcome, w)
		}
	}
	if !strings.Contains(logs.String(), "caller=bob") {
		t.Errorf("the refusal of bob does not name him:\n%s", logs.String())
	}

	// Rotation while it runs: bob's key in, alice's out.
	if err := srv.SetCallerKeys(domain.NewKeyring(bob.Public())); err != nil {
		t.Fatal(err)
	}
	if sum, _ := do(t, client(bob, servers), "s1", "echo|hi"); sum.OK != 1 {
		t.Errorf("bob after SetCallerKeys: %+v", sum)
	}
	if _, outs := do(t, client(alice, servers), "s1", "echo|hi"); outs["s1"].Reply.Code != domain.CodeUnauthorized {
		t.Errorf("alice after SetCallerKeys: %+v", outs["s1"])
	}
	open := app.NewServer(tr, app.ServerConfig{Name: "open"}, quiet)
	if err := open.SetCallerKeys(domain.NewKeyring(bob.Public())); err == nil {
		t.Error("SetCallerKeys on a server without keys did not fail")
	}
}

// TestFleetKeyAndCallerKeysTogether: a server given both accepts either; a
// fleet-key request's caller name is claimed (auth fleet-key).
func TestFleetKeyAndCallerKeysTogether(t *testing.T) {
	t.Parallel()
	alice := newKey(t, "alice")
	tr := testkit.MemoryTransport(t)
	var audit testkit.LockedBuffer
	srv := app.NewServer(tr, app.ServerConfig{Name: "s1", AuthKey: serverKey, CallerKeys: domain.NewKeyring(alice.Public()),
		Middleware: []app.Middleware{app.Audit(&audit, app.AuditArgsNone)}}, quiet)
	testkit.Start(t, srv, 0)
	for _, cfg := range []app.ClientConfig{
		{AuthKey: serverKey, Caller: "carol"},
		{AuthKey: serverKey, Identity: alice},
	} {
		cfg.Timeout = 2 * time.Second
		if sum, outs := do(t, app.NewClient(tr, cfg, quiet), "s1", "echo|hi"); sum.OK != 1 {
			t.Fatalf("%+v: %+v %+v", cfg.Caller, sum, outs)
		}
	}
	recs := auditRecords(t, audit.String())
	if len(recs) != 2 || recs[0].Caller != "carol" || recs[0].Auth != "fleet-key" || recs[1].Caller != "alice" || recs[1].Auth != "key" {
		t.Fatalf("audit:\n%s", audit.String())
	}
}

// TestServerKeysFilterTheRegister: a client given servers' public keys
// expects only the servers whose register entries they sign.
func TestServerKeysFilterTheRegister(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	tr := testkit.MemoryTransport(t)
	f := app.NewFleet(tr, []app.ServerConfig{{Name: "k1", Identity: k1}, {Name: "k2", Identity: k2}, {Name: "open"}}, quiet)
	testkit.Start(t, f, 0)
	servers := domain.NewKeyring(k1.Public(), k2.Public())
	c := app.NewClient(tr, app.ClientConfig{Timeout: time.Second, ServerKeys: servers}, quiet)
	if sum, _ := do(t, c, "all", "fib|10"); sum.OK != 2 || sum.Expected != 2 {
		t.Errorf("call all: %+v", sum)
	}
	got, err := app.CensusTrusting(t.Context(), tr, domain.Trust{Keys: servers})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Server)
	}
	if !slices.Equal(names, []string{"k1", "k2"}) {
		t.Errorf("census with the servers' keys: %v", names)
	}
}

// TestRosterWithServerKeys: a roster given the servers' public keys takes
// only presence messages their own keys sign: an unsigned server, a ghost
// and a goodbye signed by an impostor's key named k1 are ignored.
func TestRosterWithServerKeys(t *testing.T) {
	t.Parallel()
	k1, impostor := newKey(t, "k1"), newKey(t, "k1")
	tr := testkit.MemoryTransport(t)
	r := app.NewRosterTrusting(tr, domain.Trust{Keys: domain.NewKeyring(k1.Public())}, quiet)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	testkit.Start(t, app.NewServer(tr, app.ServerConfig{Name: "k1", Identity: k1, HeartbeatInterval: time.Second}, quiet), 0)
	testkit.Start(t, app.NewServer(tr, app.ServerConfig{Name: "open"}, quiet), 0)
	bye := domain.Presence{Kind: domain.PresenceGoodbye, Server: "k1", Sent: time.Now().Add(time.Second)}
	domain.Signer{Key: impostor}.SignPresence(&bye)
	for _, p := range []domain.Presence{{Kind: domain.PresenceHello, Server: "ghost", Sent: time.Now(), Interval: time.Hour}, bye} {
		if err := tr.Announce(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	r.Settle(t.Context(), 100*time.Millisecond)
	var got []string
	for _, m := range r.Members() {
		got = append(got, m.Server)
	}
	if !slices.Equal(got, []string{"k1"}) {
		t.Errorf("members %v, want k1 alone", got)
	}
}
