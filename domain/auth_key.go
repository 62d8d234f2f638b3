package domain

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// Two ways to sign, side by side. The fleet key (HMAC-SHA256, 32-byte
// signatures) is shared by every server and caller of a small fleet: it
// proves a message comes from some holder of the key. A key pair of one's
// own (Ed25519, 64-byte signatures; identity.go) proves who: a request
// from caller alice verifies only against alice's public key, a reply from
// q1 only against q1's. The payloads are the same for both (SigningPayload,
// ReplyPayload, PresencePayload, RegistrationPayload); the length of a
// signature says which kind it is.
//
// A Signer is what one party signs with; a Trust is what another accepts.

// Proof says how a request's caller was established.
type Proof uint8

const (
	// ProofNone: nothing was proven (an unsigned request, or a server that
	// checks nothing): Request.Caller is only claimed.
	ProofNone Proof = iota
	// ProofFleetKey: signed with the fleet key. Some holder of it sent the
	// request; the Caller it names is claimed by that holder, not proven.
	ProofFleetKey
	// ProofKey: signed with the private key of Request.Caller, whose public
	// key the receiver trusts. The name is proven.
	ProofKey
)

// String returns "none", "fleet-key" or "key".
func (p Proof) String() string {
	switch p {
	case ProofFleetKey:
		return "fleet-key"
	case ProofKey:
		return "key"
	}
	return "none"
}

// Reasons a request signed by a caller key is refused; each matches
// ErrUnauthorized.
var (
	ErrUnknownCaller error = authError("no trusted key for the caller")
	ErrNoFleetKey    error = authError("signed with a fleet key, but this receiver holds none")
	ErrNoCallerKeys  error = authError("signed with a caller key, but this receiver trusts none")
)

// Signer signs with a private key when it has one (Key), else with the fleet
// key (FleetKey); the zero Signer signs nothing. It is safe for concurrent
// use.
type Signer struct {
	FleetKey []byte
	Key      *PrivateKey
}

// IsZero reports whether s has no key.
func (s Signer) IsZero() bool { return s.Key == nil && len(s.FleetKey) == 0 }

// Name is the identity s signs as: its private key's name, "" with the
// fleet key alone.
func (s Signer) Name() string {
	if s.Key == nil {
		return ""
	}
	return s.Key.Name
}

func (s Signer) sign(payload []byte) []byte {
	if s.Key != nil {
		return ed25519.Sign(s.Key.Key, payload)
	}
	if len(s.FleetKey) > 0 {
		return fleetMAC(s.FleetKey, payload)
	}
	return nil
}

// SignRequest signs r: with a private key it sets r.Caller to its name
// first (the signature then proves it); with the fleet key it signs the
// Caller r already has (claimed). Set every other field, the Nonce
// included, first.
func (s Signer) SignRequest(r *Request) {
	if s.Key != nil {
		r.Caller = s.Key.Name
	}
	r.Signature = s.sign(SigningPayload(r))
}

// SignReply sets r.Signature; see domain.SignReply for what to set first.
func (s Signer) SignReply(r *Reply) {
	r.Error = ClipError(r.Error)
	r.Signature = string(s.sign(ReplyPayload(r)))
}

// SignPresence sets p.Signature; set every other field, Sent included, first.
func (s Signer) SignPresence(p *Presence) { p.Signature = string(s.sign(PresencePayload(p))) }

// SignRegistration sets r.Signature; set every other field first.
func (s Signer) SignRegistration(r *Registration) {
	r.Signature = string(s.sign(RegistrationPayload(r)))
}

// Trust is what a receiver accepts signatures from: the fleet key (any
// holder), and the public keys of named callers or servers (Keys). A
// signature is checked by its kind: a 32-byte one against the fleet key, a
// 64-byte one against the keys of the name the message claims (a request's
// Caller, a reply's, presence message's or register entry's Server). Given
// both, a receiver accepts either. The zero Trust checks nothing. It is safe
// for concurrent use.
type Trust struct {
	FleetKey []byte
	Keys     *Keyring
}

// IsZero reports whether t trusts no key at all (and so checks nothing).
func (t Trust) IsZero() bool { return len(t.FleetKey) == 0 && t.Keys.Len() == 0 }

// verify returns how sig proves payload comes from name: ProofKey,
// ProofFleetKey, or ProofNone when it does not.
func (t Trust) verify(name string, payload, sig []byte) Proof {
	switch len(sig) {
	case ed25519.SignatureSize:
		if t.Keys.Verify(name, payload, sig) {
			return ProofKey
		}
	case sha256.Size:
		if len(t.FleetKey) > 0 && hmac.Equal(sig, fleetMAC(t.FleetKey, payload)) {
			return ProofFleetKey
		}
	}
	return ProofNone
}

// VerifyRequest returns how r's signature proves its caller, or an error
// matching ErrUnauthorized saying why it does not (ErrUnsigned,
// ErrBadSignature, ErrUnknownCaller, ErrNoFleetKey, ErrNoCallerKeys). It
// checks the signature only, not freshness (ReplayGuard).
func (t Trust) VerifyRequest(r *Request) (Proof, error) {
	switch {
	case len(r.Signature) == 0:
		return ProofNone, ErrUnsigned
	case len(r.Signature) == ed25519.SignatureSize && t.Keys.Len() == 0:
		return ProofNone, ErrNoCallerKeys
	case len(r.Signature) == ed25519.SignatureSize && !t.Keys.Has(r.Caller):
		return ProofNone, fmt.Errorf("%w: %q", ErrUnknownCaller, clipName(r.Caller))
	case len(r.Signature) == sha256.Size && len(t.FleetKey) == 0:
		return ProofNone, ErrNoFleetKey
	}
	if p := t.verify(r.Caller, SigningPayload(r), r.Signature); p != ProofNone {
		return p, nil
	}
	return ProofNone, ErrBadSignature
}

// VerifyReply reports whether r's signature holds: by the fleet key, or by
// a key of r.Server.
func (t Trust) VerifyReply(r *Reply) bool {
	return t.verify(r.Server, ReplyPayload(r), []byte(r.Signature)) != ProofNone
}

// VerifyPresence reports whether p's signature holds, by the fleet key or a
// key of p.Server.
func (t Trust) VerifyPresence(p *Presence) bool {
	return t.verify(p.Server, PresencePayload(p), []byte(p.Signature)) != ProofNone
}

// VerifyRegistration reports whether r's signature holds, by the fleet key
// or a key of r.Server.
func (t Trust) VerifyRegistration(r *Registration) bool {
	return t.verify(r.Server, RegistrationPayload(r), []byte(r.Signature)) != ProofNone
}

// clipName cuts a name quoted in an error to 64 bytes.
func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
