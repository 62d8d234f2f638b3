package conformance

import (
	"context"
	"crypto/rand"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// testPipelineIdentityAndPolicy: a request signed with a caller's own key
// reaches the server with its caller name and signature intact; the server
// signs its replies with its own key; a request the policy does not allow
// gets one reply, a signed forbidden result — no ack before it, even when
// the server acknowledges at once — and runs no handler.
func testPipelineIdentityAndPolicy(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	alice, err := domain.GenerateKey("alice", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p3, err := domain.GenerateKey("p3", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := domain.NewPolicy(nil, []domain.Rule{{Allow: true, Callers: []string{"alice"}, Commands: []string{"echo"}}})
	if err != nil {
		t.Fatal(err)
	}
	var o outcomes
	var ran atomic.Int32
	srv := pipelineServer(t, tr, "p3", app.ServerConfig{AckDelay: app.AckAtOnce, Identity: &p3,
		CallerKeys: domain.NewKeyring(alice.Public()), Authorize: app.NewPolicyGate(policy, quiet).Middleware}, &o)
	if err := srv.Handle("count", func(context.Context, string) (string, error) { ran.Add(1); return "", nil }); err != nil {
		t.Fatal(err)
	}
	trust := domain.Trust{Keys: domain.NewKeyring(p3.Public())}
	for _, c := range []struct{ command, code string }{{"echo", ""}, {"count", domain.CodeForbidden}} {
		req := request("p3", c.command, "hi")
		req.Nonce = "nonce-" + req.ID
		domain.Signer{Key: &alice}.SignRequest(req)
		s := newSink()
		send(t, tr, req, s)
		r := s.next(t)
		if c.code != "" && (r.Kind != domain.KindResult || r.Code != c.code) {
			t.Errorf("%s: first reply %+v, want the %s result (no ack)", c.command, r, c.code)
		}
		for r.Kind != domain.KindResult {
			if !trust.VerifyReply(&r) {
				t.Errorf("%s: the %s reply is not signed by p3's key", c.command, r.Kind)
			}
			r = s.next(t)
		}
		if r.Code != c.code || !trust.VerifyReply(&r) {
			t.Errorf("%s: result %+v (verifies: %v), want code %q signed by p3", c.command, r, trust.VerifyReply(&r), c.code)
		}
	}
	if got, want := o.list(), []string{"echo ", "count " + domain.CodeForbidden}; !slices.Equal(got, want) || ran.Load() != 0 {
		t.Errorf("outcomes %q, handler ran %d times; want %q and 0", got, ran.Load(), want)
	}
}
