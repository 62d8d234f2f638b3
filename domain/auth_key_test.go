package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

func TestRequestSignedByCallerKey(t *testing.T) {
	t.Parallel()
	alice, bob, q1 := mustKey(t, "alice"), mustKey(t, "bob"), mustKey(t, "q1")
	callers := domain.NewKeyring(alice.Public(), bob.Public())
	both := domain.Trust{FleetKey: testKey, Keys: callers}
	fresh := func(s domain.Signer, caller string) domain.Request {
		r := signedRequest()
		r.Caller, r.Signature = caller, nil
		s.SignRequest(&r)
		return r
	}
	for _, tc := range []struct {
		name   string
		req    func() domain.Request
		trust  domain.Trust
		proof  domain.Proof
		err    error
		caller string
	}{
		{"alice's key", func() domain.Request { return fresh(domain.Signer{Key: &alice}, "") }, both, domain.ProofKey, nil, "alice"},
		{"the key names the caller, whatever was claimed", func() domain.Request { return fresh(domain.Signer{Key: &alice}, "bob") }, both, domain.ProofKey, nil, "alice"},
		{"fleet key, name claimed", func() domain.Request { return fresh(domain.Signer{FleetKey: testKey}, "bob") }, both, domain.ProofFleetKey, nil, "bob"},
		{"fleet key, no name", func() domain.Request { return fresh(domain.Signer{FleetKey: testKey}, "") }, both, domain.ProofFleetKey, nil, ""},
		{"a key before the fleet key", func() domain.Request { return fresh(domain.Signer{FleetKey: testKey, Key: &bob}, "") }, both, domain.ProofKey, nil, "bob"},
		{"caller renamed after signing", func() domain.Request {
			r := fresh(domain.Signer{Key: &alice}, "")
			r.Caller = "bob"
			return r
		}, both, domain.ProofNone, domain.ErrBadSignature, "bob"},
		{"claimed name changed under the fleet key", func() domain.Request {
			r := fresh(domain.Signer{FleetKey: testKey}, "bob")
			r.Caller = "alice"
			return r
		}, both, domain.ProofNone, domain.ErrBadSignature, "alice"},
		{"args changed", func() domain.Request {
			r := fresh(domain.Signer{Key: &alice}, "")
			r.Command.Args += "!"
			return r
		}, both, domain.ProofNone, domain.ErrBadSignature, "alice"},
		{"an untrusted key", func() domain.Request { return fresh(domain.Signer{Key: &q1}, "") }, both, domain.ProofNone, domain.ErrUnknownCaller, "q1"},
		{"mallory signs as alice", func() domain.Request {
			m := mustKey(t, "alice")
			return fresh(domain.Signer{Key: &m}, "")
		}, both, domain.ProofNone, domain.ErrBadSignature, "alice"},
		{"caller key, receiver trusts none", func() domain.Request { return fresh(domain.Signer{Key: &alice}, "") }, domain.Trust{FleetKey: testKey}, domain.ProofNone, domain.ErrNoCallerKeys, "alice"},
		{"fleet key, receiver holds none", func() domain.Request { return fresh(domain.Signer{FleetKey: testKey}, "") }, domain.Trust{Keys: callers}, domain.ProofNone, domain.ErrNoFleetKey, ""},
		{"unsigned", func() domain.Request { return fresh(domain.Signer{}, "alice") }, both, domain.ProofNone, domain.ErrUnsigned, "alice"},
	} {
		r := tc.req()
		proof, err := tc.trust.VerifyRequest(&r)
		if proof != tc.proof || !errors.Is(err, tc.err) || (err != nil && !errors.Is(err, domain.ErrUnauthorized)) || r.Caller != tc.caller {
			t.Errorf("%s: %v, %v (caller %q), want %v, %v (caller %q)", tc.name, proof, err, r.Caller, tc.proof, tc.err, tc.caller)
		}
	}
}

func TestCallerIsInTheSignedPayload(t *testing.T) {
	t.Parallel()
	r := signedRequest()
	v1 := domain.SigningPayload(&r)
	r.Caller = "alice"
	v2 := domain.SigningPayload(&r)
	if string(v1) == string(v2) {
		t.Fatal("the caller is not signed")
	}
	// Without a caller, the payload is version 1, as before callers existed.
	if !domain.Verify(testKey, func() *domain.Request { x := signedRequest(); return &x }()) {
		t.Error("a version 1 signature no longer verifies")
	}
}

func TestRepliesPresenceRegisterSignedByServerKey(t *testing.T) {
	t.Parallel()
	q1, q2 := mustKey(t, "q1"), mustKey(t, "q2")
	servers := domain.NewKeyring(q1.Public(), q2.Public())
	signer := domain.Signer{FleetKey: testKey, Key: &q1}
	trustKeys, trustFleet := domain.Trust{Keys: servers}, domain.Trust{FleetKey: testKey}

	r := domain.Reply{CallID: "c1", Server: "q1", Result: "832040", Elapsed: time.Millisecond}
	signer.SignReply(&r)
	if len(r.Signature) != 64 || !trustKeys.VerifyReply(&r) {
		t.Fatal("q1's reply does not verify against q1's key")
	}
	if trustFleet.VerifyReply(&r) {
		t.Error("a reply signed by q1's key verifies with the fleet key alone")
	}
	claim := r
	claim.Server = "q2"
	if trustKeys.VerifyReply(&claim) {
		t.Error("q1's signature passes for q2")
	}
	q2signs := domain.Reply{CallID: "c1", Server: "q1", Result: "FORGED"}
	domain.Signer{Key: &q2}.SignReply(&q2signs)
	if trustKeys.VerifyReply(&q2signs) {
		t.Error("a reply signed by q2's key passes as q1's")
	}
	changed := r
	changed.Result = "FORGED"
	if trustKeys.VerifyReply(&changed) {
		t.Error("a changed result verifies")
	}
	fleetSigned := domain.Reply{CallID: "c1", Server: "q1", Result: "x"}
	domain.Signer{FleetKey: testKey}.SignReply(&fleetSigned)
	if trustKeys.VerifyReply(&fleetSigned) || !(domain.Trust{FleetKey: testKey, Keys: servers}).VerifyReply(&fleetSigned) {
		t.Error("a fleet-key reply: believed without the fleet key, or refused with it")
	}

	p := domain.Presence{Kind: domain.PresenceHello, Server: "q1", Queue: "topicrpc.q1", Sent: time.UnixMilli(1_767_322_800_000)}
	signer.SignPresence(&p)
	ghost := p
	ghost.Server = "q2"
	if !trustKeys.VerifyPresence(&p) || trustKeys.VerifyPresence(&ghost) {
		t.Error("presence: q1's own does not verify, or passes as q2's")
	}
	g := domain.Registration{Server: "q1", Queue: "topicrpc.q1", Seen: time.UnixMilli(1_767_322_800_000)}
	signer.SignRegistration(&g)
	left := g
	left.Left = g.Seen.Add(time.Hour)
	if !trustKeys.VerifyRegistration(&g) || trustKeys.VerifyRegistration(&left) {
		t.Error("register entry: q1's own does not verify, or a forged goodbye does")
	}
	if !(domain.Trust{}).IsZero() || trustKeys.IsZero() || !(domain.Signer{}).IsZero() {
		t.Error("IsZero")
	}
}
