package app_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

const testPolicy = `# who may run what
groups:
  ops: [alice, bob]
rules:
  - deny: ["@ops"]
    commands: [reboot]
    targets: ["all"]
  - allow: ["@ops"]
    commands: ["*"]
  - allow: carol
    commands: [fib, "ec?o"]
    targets: ["group1.#", q1]
    args: '[0-9]{1,2}|hi'
  - allow: ["@fleet-key"]
    commands: [ping]
  - allow: ["*"]
    commands: [echo]
    targets: [public]
`

func TestPolicyDecides(t *testing.T) {
	t.Parallel()
	p, err := app.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 5 {
		t.Fatalf("%d rules, want 5", p.Len())
	}
	key, fleet, none := domain.ProofKey, domain.ProofFleetKey, domain.ProofNone
	for _, tc := range []struct {
		caller  string
		proof   domain.Proof
		target  string
		command string
		args    string
		allow   bool
		reason  string
	}{
		{"alice", key, "all", "reboot", "", false, "denied by the rule at line 5"},
		{"alice", key, "q1", "reboot", "", true, "line 8"},
		{"bob", key, "group2.web", "anything", "x y", true, "line 8"},
		{"alice", fleet, "q1", "reboot", "", false, "no rule allows it"}, // a claimed name is not alice
		{"alice", none, "q1", "echo", "", false, "no rule allows it"},
		{"carol", key, "group1", "fib", "30", true, "line 10"},
		{"carol", key, "group1.web", "echo", "hi", true, "line 10"},
		{"carol", key, "q1", "fib", "100", false, "no rule allows it"},     // args anchored: 3 digits
		{"carol", key, "q1", "fib", "1; rm", false, "no rule allows it"},   // not the whole args
		{"carol", key, "q2", "fib", "3", false, "no rule allows it"},       // target
		{"carol", key, "group1", "exec", "3", false, "no rule allows it"},  // command
		{"carol", key, "group10", "fib", "3", false, "no rule allows it"},  // group1.# is not a prefix match
		{"dave", key, "q1", "ping", "", false, "no rule allows it"},        // proven, but no fleet key
		{"dave", fleet, "q1", "ping", "", true, "line 14"},                 // any fleet-key holder
		{"", none, "public", "echo", "x", true, "line 16"},                 // anyone
		{"", none, "public.more", "echo", "x", false, "no rule allows it"}, // topic pattern: exactly public
	} {
		req := &domain.Request{Target: tc.target, Command: domain.Command{Name: tc.command, Args: tc.args}}
		d := p.Decide(tc.caller, tc.proof, req)
		if d.Allow != tc.allow || !strings.Contains(d.Reason(), tc.reason) {
			t.Errorf("%s (%v) %s %s|%s: allow %v (%s), want %v (%s)", tc.caller, tc.proof, tc.target, tc.command, tc.args,
				d.Allow, d.Reason(), tc.allow, tc.reason)
		}
	}
	empty, err := app.ParsePolicy([]byte("rules: []\n"))
	if err != nil || empty.Decide("alice", key, &domain.Request{Target: "q1", Command: domain.Command{Name: "echo"}}).Allow {
		t.Errorf("an empty policy: %v, or it allows", err)
	}
}

func TestPolicyFileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, text, want string }{
		{"unknown top key", "rules: []\nrulez: []\n", `line 2: unknown key "rulez"`},
		{"unknown rule key", "rules:\n  - allow: [a]\n    command: [echo]\n", `line 3: unknown key "command"`},
		{"bad regexp", "rules:\n  - allow: [a]\n    args: '(['\n", "line 3: args"},
		{"bad glob", "rules:\n  - allow: [a]\n    commands: ['[']\n", `line 2: command pattern "["`},
		{"bad target", "rules:\n  - allow: [a]\n    targets: ['']\n", "line 2: target pattern"},
		{"allow and deny", "rules:\n  - allow: [a]\n    deny: [b]\n", "line 3: a rule has one of allow and deny"},
		{"neither", "rules:\n  - commands: [echo]\n", "line 2: a rule needs allow or deny"},
		{"no callers", "rules:\n  - allow: []\n", "line 2: a rule names at least one caller"},
		{"unknown group", "rules:\n  - allow: ['@ops']\n", "line 2: caller @ops: no such group"},
		{"bad caller", "rules:\n  - allow: [a.b]\n", "line 2: caller"},
		{"bad member", "groups:\n  ops: [a/b]\nrules: []\n", "line 2: group ops"},
		{"reserved group", "groups:\n  fleet-key: [a]\nrules: []\n", "line 2: group \"fleet-key\": reserved"},
		{"no rules", "groups: {}\n", "no rules key"},
		{"empty", "", "empty policy"},
		{"not YAML", "rules: [\n", "line"},
		{"not a mapping", "- allow: [a]\n", "line 1: want a mapping"},
		{"unquoted star", "rules:\n  - allow: [*]\n", "line 2"},
	} {
		_, err := app.ParsePolicy([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", tc.name, err, tc.want)
		}
	}
}

// TestPolicyGateOnAServer: the gate runs after verify, refuses with
// CodeForbidden and a reason the caller sees, never acknowledging or
// running; Set changes the decision for the next request; the audit line
// records the refusal with the caller.
func TestPolicyGateOnAServer(t *testing.T) {
	t.Parallel()
	alice, bob := newKey(t, "alice"), newKey(t, "bob")
	deny, err := app.ParsePolicy([]byte("rules:\n  - allow: [alice]\n    commands: [echo]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var audit, logs testkit.LockedBuffer
	gate := app.NewPolicyGate(deny, slog.New(slog.NewTextHandler(&logs, nil)))
	tr := testkit.MemoryTransport(t)
	var ran atomic.Int32
	srv := app.NewServer(tr, app.ServerConfig{Name: "s1", AckDelay: app.AckAtOnce,
		CallerKeys: domain.NewKeyring(alice.Public(), bob.Public()), Authorize: gate.Middleware,
		Middleware: []app.Middleware{app.Audit(&audit, app.AuditArgsNone)}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := srv.Handle("count", func(context.Context, string) (string, error) { ran.Add(1); return "ran", nil }); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, srv, 0)
	client := func(k *domain.PrivateKey) *app.Client {
		return app.NewClient(tr, app.ClientConfig{Timeout: 2 * time.Second, Identity: k}, quiet)
	}
	if sum, _ := do(t, client(alice), "s1", "echo|hi"); sum.OK != 1 {
		t.Fatalf("alice echo: %+v", sum)
	}
	sum, outs := do(t, client(bob), "s1", "echo|hi")
	if o := outs["s1"]; o.State != domain.StateError || o.Reply.Code != domain.CodeForbidden || sum.Failed != 1 ||
		o.Reply.Error != "forbidden: bob may not run echo on s1: no rule allows it" {
		t.Fatalf("bob echo: %+v %+v", o, sum)
	}
	if _, outs = do(t, client(alice), "s1", "count"); outs["s1"].Reply.Code != domain.CodeForbidden || ran.Load() != 0 {
		t.Fatalf("alice count: %+v, ran %d", outs["s1"], ran.Load())
	}
	allow, err := app.ParsePolicy([]byte("rules:\n  - allow: ['*']\n"))
	if err != nil {
		t.Fatal(err)
	}
	gate.Set(allow)
	if sum, _ := do(t, client(bob), "s1", "count"); sum.OK != 1 || ran.Load() != 1 {
		t.Fatalf("bob count after Set: %+v, ran %d", sum, ran.Load())
	}
	recs := auditRecords(t, audit.String())
	if len(recs) != 4 || recs[1].Caller != "bob" || recs[1].Auth != "key" || recs[1].Outcome != domain.CodeForbidden ||
		!strings.Contains(recs[1].Reason, "no rule allows it") {
		t.Fatalf("audit:\n%s", audit.String())
	}
	if !strings.Contains(logs.String(), "refused a forbidden request") {
		t.Errorf("log:\n%s", logs.String())
	}
}
