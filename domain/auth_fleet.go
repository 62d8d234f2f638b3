package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Signed presence and register entries: with the fleet key, a server signs
// every presence message it announces (SignPresence) and its own entry in
// the fleet register each time it writes it (SignRegistration); rosters and
// clients holding the key ignore what does not verify, so that without the
// key nobody can add a ghost server, hide a real one with a goodbye, or
// fill the register with invented names that calls would then expect.
//
// The payloads follow SigningPayload's rules (version tag first, every
// variable field with its length, integers big-endian, times in unix
// milliseconds, lists as a count then their fields).

// Version tags of the presence and register payloads.
const (
	PresenceSignatureVersion     = "topicrpc-presence-v1"
	RegistrationSignatureVersion = "topicrpc-registration-v1"
)

func appendList(b []byte, list []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(list)))
	for _, s := range list {
		b = appendField(b, s)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(unixMilli(t)))
}

// PresencePayload returns the bytes SignPresence authenticates for p.
func PresencePayload(p *Presence) []byte {
	b := appendField(nil, PresenceSignatureVersion)
	b = append(b, byte(p.Kind))
	b = appendField(b, p.Server)
	b = appendField(b, p.Queue)
	b = appendList(b, p.Bindings)
	b = appendList(b, p.WorkGroups)
	b = appendList(b, p.Commands)
	b = appendField(b, p.Version)
	b = appendField(b, p.Host)
	b = binary.BigEndian.AppendUint64(b, uint64(p.PID))
	b = appendTime(b, p.Started)
	b = appendTime(b, p.Sent)
	return binary.BigEndian.AppendUint64(b, uint64(p.Interval))
}

// SignPresence sets p.Signature; set every other field, Sent included, first.
func SignPresence(key []byte, p *Presence) { p.Signature = string(fleetMAC(key, PresencePayload(p))) }

// VerifyPresence reports whether p carries a valid signature by key.
func VerifyPresence(key []byte, p *Presence) bool {
	return len(p.Signature) == sha256.Size && hmac.Equal([]byte(p.Signature), fleetMAC(key, PresencePayload(p)))
}

// RegistrationPayload returns the bytes SignRegistration authenticates for r.
func RegistrationPayload(r *Registration) []byte {
	b := appendField(nil, RegistrationSignatureVersion)
	b = appendField(b, r.Server)
	b = appendField(b, r.Queue)
	b = appendList(b, r.Bindings)
	b = appendList(b, r.WorkGroups)
	b = appendList(b, r.Commands)
	b = appendField(b, r.Version)
	b = appendField(b, r.Host)
	b = binary.BigEndian.AppendUint64(b, uint64(r.PID))
	b = appendTime(b, r.Joined)
	b = appendTime(b, r.Started)
	b = appendTime(b, r.Seen)
	return appendTime(b, r.Left)
}

// SignRegistration sets r.Signature; set every other field first (the
// register's methods change Joined, Seen and Left: sign after them).
func SignRegistration(key []byte, r *Registration) {
	r.Signature = string(fleetMAC(key, RegistrationPayload(r)))
}

// VerifyRegistration reports whether r carries a valid signature by key.
func VerifyRegistration(key []byte, r *Registration) bool {
	return len(r.Signature) == sha256.Size && hmac.Equal([]byte(r.Signature), fleetMAC(key, RegistrationPayload(r)))
}

func fleetMAC(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(payload)
	return h.Sum(nil)
}
