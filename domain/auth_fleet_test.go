package domain_test

import (
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

var fleetKey = []byte("0123456789abcdef0123456789abcdef")

// A signed presence message or register entry verifies with the key and
// with no other, and not once any field changed.
func TestPresenceAndRegistrationSignatures(t *testing.T) {
	t.Parallel()
	now := time.Unix(1800000000, 0)
	p := domain.Presence{Kind: domain.PresenceHeartbeat, Server: "q1", Queue: "q1", Bindings: []string{"all.#"},
		Commands: []string{"echo"}, Host: "h", PID: 7, Started: now, Sent: now, Interval: time.Second}
	domain.SignPresence(fleetKey, &p)
	if !domain.VerifyPresence(fleetKey, &p) || domain.VerifyPresence([]byte("another key, 32 bytes long......"), &p) {
		t.Fatal("presence: verifies with the wrong key, or not with the right one")
	}
	for name, tamper := range map[string]func(*domain.Presence){
		"kind":     func(p *domain.Presence) { p.Kind = domain.PresenceGoodbye },
		"sent":     func(p *domain.Presence) { p.Sent = p.Sent.Add(24 * time.Hour) },
		"interval": func(p *domain.Presence) { p.Interval = time.Hour },
		"bindings": func(p *domain.Presence) { p.Bindings = []string{"#"} },
		"server":   func(p *domain.Presence) { p.Server = "q2" },
	} {
		q := p
		tamper(&q)
		if domain.VerifyPresence(fleetKey, &q) {
			t.Errorf("presence with %s changed still verifies", name)
		}
	}
	if u := (domain.Presence{Kind: domain.PresenceHello, Server: "q1"}); domain.VerifyPresence(fleetKey, &u) {
		t.Error("an unsigned presence message verifies")
	}

	r := domain.Registration{Server: "q1", Queue: "q1", Bindings: []string{"all.#"}, Joined: now, Started: now, Seen: now}
	domain.SignRegistration(fleetKey, &r)
	if !domain.VerifyRegistration(fleetKey, &r) {
		t.Fatal("registration does not verify")
	}
	for name, tamper := range map[string]func(*domain.Registration){
		"left":     func(r *domain.Registration) { r.Left = now },
		"bindings": func(r *domain.Registration) { r.Bindings = append(r.Bindings, "g.#") },
		"seen":     func(r *domain.Registration) { r.Seen = now.Add(time.Hour) },
	} {
		x := r
		tamper(&x)
		if domain.VerifyRegistration(fleetKey, &x) {
			t.Errorf("registration with %s changed still verifies", name)
		}
	}
}
