package domain_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func signedRequest() domain.Request {
	sent := time.UnixMilli(1_767_322_800_123)
	r := domain.Request{ID: "c1", Target: "group1", Command: domain.Command{Name: "echo", Args: "hello world"},
		Sent: sent, Deadline: sent.Add(10 * time.Second), Nonce: "00112233445566778899aabbccddeeff"}
	domain.Sign(testKey, &r)
	return r
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	r := signedRequest()
	if len(r.Signature) != 32 {
		t.Fatalf("signature is %d bytes, want 32", len(r.Signature))
	}
	if !domain.Verify(testKey, &r) {
		t.Fatal("a signed request does not verify")
	}
	// Fields outside the payload do not matter; sub-millisecond times do not
	// travel on the wire and are not signed.
	r.ID = "another"
	r.Sent = r.Sent.Add(999 * time.Microsecond)
	if !domain.Verify(testKey, &r) {
		t.Error("changing the ID or sub-millisecond time broke the signature")
	}
}

func TestVerifyRefusesForgeries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		forge  func(*domain.Request)
		differ bool // the payload must differ too
	}{
		{"target", func(r *domain.Request) { r.Target = "all" }, true},
		{"command name", func(r *domain.Request) { r.Command.Name = "exec" }, true},
		{"args", func(r *domain.Request) { r.Command.Args = "hello world!" }, true},
		{"args moved into name", func(r *domain.Request) { r.Command.Name, r.Command.Args = "echohello", " world" }, true},
		{"sent", func(r *domain.Request) { r.Sent = r.Sent.Add(time.Millisecond) }, true},
		{"deadline", func(r *domain.Request) { r.Deadline = r.Deadline.Add(time.Hour) }, true},
		{"no deadline", func(r *domain.Request) { r.Deadline = time.Time{} }, true},
		{"nonce", func(r *domain.Request) { r.Nonce = "00112233445566778899aabbccddeef0" }, true},
		{"balanced", func(r *domain.Request) { r.Balanced = true }, true},
		{"signature bit", func(r *domain.Request) { r.Signature[0] ^= 1 }, false},
		{"signature cut", func(r *domain.Request) { r.Signature = r.Signature[:31] }, false},
		{"unsigned", func(r *domain.Request) { r.Signature = nil }, false},
		{"other key", func(r *domain.Request) { domain.Sign([]byte("another key, 32 bytes long......"), r) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := signedRequest()
			before := domain.SigningPayload(&r)
			r.Signature = bytes.Clone(r.Signature)
			tc.forge(&r)
			if domain.Verify(testKey, &r) {
				t.Error("the forged request verifies")
			}
			if tc.differ && bytes.Equal(before, domain.SigningPayload(&r)) {
				t.Error("the forged request has the same payload")
			}
		})
	}
}

func TestSigningPayloadLayout(t *testing.T) {
	t.Parallel()
	r := domain.Request{Target: "a", Command: domain.Command{Name: "b", Args: "c"}, Sent: time.UnixMilli(258),
		Nonce: "n", Balanced: true}
	want := []byte("\x00\x00\x00\x0btopicrpc-v1" + "\x00\x00\x00\x01a" + "\x00\x00\x00\x01b" + "\x00\x00\x00\x01c" +
		"\x00\x00\x00\x00\x00\x00\x01\x02" + "\x00\x00\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x01n" + "\x01")
	if got := domain.SigningPayload(&r); !bytes.Equal(got, want) {
		t.Errorf("payload\n%q, want\n%q", got, want)
	}
}

func TestAuthErrorsAreUnauthorized(t *testing.T) {
	t.Parallel()
	for _, err := range []error{domain.ErrUnsigned, domain.ErrBadSignature, domain.ErrBadNonce, domain.ErrTooOld,
		domain.ErrInFuture, domain.ErrReplayed, fmt.Errorf("x: %w", domain.ErrReplayed)} {
		if !errors.Is(err, domain.ErrUnauthorized) {
			t.Errorf("%v is not ErrUnauthorized", err)
		}
	}
	if errors.Is(domain.ErrTooOld, domain.ErrReplayed) {
		t.Error("ErrTooOld is ErrReplayed")
	}
}

func TestReplayGuardWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_322_800, 0)
	const w = time.Minute
	tests := []struct {
		name  string
		nonce string
		sent  time.Time
		want  error
	}{
		{"now", "a", now, nil},
		{"oldest accepted", "b", now.Add(-w), nil},
		{"just too old", "c", now.Add(-w - time.Millisecond), domain.ErrTooOld},
		{"latest accepted", "d", now.Add(w), nil},
		{"just too far ahead", "e", now.Add(w + time.Millisecond), domain.ErrInFuture},
		{"ten minutes ago", "f", now.Add(-10 * time.Minute), domain.ErrTooOld},
		{"no nonce", "", now, domain.ErrBadNonce},
		{"huge nonce", string(make([]byte, domain.MaxNonce+1)), now, domain.ErrBadNonce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := domain.NewReplayGuard(w, 10)
			err := g.Check(tc.nonce, tc.sent, now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReplayGuardRefusesSeenNonce(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_322_800, 0)
	g := domain.NewReplayGuard(time.Minute, 10)
	if err := g.Check("n1", now, now); err != nil {
		t.Fatal(err)
	}
	if err := g.Check("n1", now, now.Add(time.Second)); !errors.Is(err, domain.ErrReplayed) {
		t.Errorf("replay: %v, want ErrReplayed", err)
	}
	if err := g.Check("n1", now.Add(time.Second), now.Add(time.Second)); !errors.Is(err, domain.ErrReplayed) {
		t.Errorf("replay with another time: %v, want ErrReplayed", err)
	}
	if err := g.Check("n2", now, now); err != nil {
		t.Errorf("a new nonce: %v", err)
	}
	// Once n1 left the window it is forgotten, and a replay is too old.
	later := now.Add(time.Minute + time.Millisecond)
	if err := g.Check("n3", later, later); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Errorf("remembers %d nonces after the window, want 1", g.Len())
	}
	if err := g.Check("n1", now, later); !errors.Is(err, domain.ErrTooOld) {
		t.Errorf("replay after the window: %v, want ErrTooOld", err)
	}
	// A clock stepping back does not reopen forgotten nonces.
	if err := g.Check("n1", now, now); !errors.Is(err, domain.ErrTooOld) {
		t.Errorf("replay after the clock stepped back: %v, want ErrTooOld", err)
	}
}

func TestReplayGuardCapacity(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_322_800, 0)
	g := domain.NewReplayGuard(time.Minute, 3)
	at := func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) }
	// Out of order: the oldest by Sent is forgotten first, not the first in.
	for _, i := range []int{2, 1, 3} {
		if err := g.Check(fmt.Sprint("n", i), at(i), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Check("n4", at(4), now); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 3 {
		t.Errorf("remembers %d nonces, want the capacity 3", g.Len())
	}
	// n1 was forgotten; replaying it is refused anyway, and so is any new
	// request sent at or before it.
	if err := g.Check("n1", at(1), now); !errors.Is(err, domain.ErrTooOld) {
		t.Errorf("replay of a forgotten nonce: %v, want ErrTooOld", err)
	}
	if err := g.Check("n0", at(0), now); !errors.Is(err, domain.ErrTooOld) {
		t.Errorf("new request older than the floor: %v, want ErrTooOld", err)
	}
	for _, i := range []int{2, 3, 4} {
		if err := g.Check(fmt.Sprint("n", i), at(i), now); !errors.Is(err, domain.ErrReplayed) {
			t.Errorf("replay of n%d: %v, want ErrReplayed", i, err)
		}
	}
	if err := g.Check("n5", at(5), now); err != nil {
		t.Errorf("a newer request: %v", err)
	}
}

// FuzzSignVerify: a signed request verifies, and changing any one signed
// field breaks the signature.
func FuzzSignVerify(f *testing.F) {
	f.Add("group1", "echo", "hello", int64(1_767_322_800_123), int64(10_000), "nonce", false, uint8(0), "x")
	f.Add("", "", "", int64(0), int64(0), "", true, uint8(6), "")
	f.Add("a", "b|c", "", int64(-1), int64(-5), "n", false, uint8(2), "b|c")
	f.Fuzz(func(t *testing.T, target, name, args string, sentMS, dlDelta int64, nonce string, balanced bool,
		field uint8, alt string) {
		r := domain.Request{Target: target, Command: domain.Command{Name: name, Args: args}, Nonce: nonce, Balanced: balanced}
		if sentMS != 0 {
			r.Sent = time.UnixMilli(sentMS)
		}
		if dlDelta != 0 {
			r.Deadline = time.UnixMilli(sentMS + dlDelta)
		}
		domain.Sign(testKey, &r)
		if !domain.Verify(testKey, &r) {
			t.Fatalf("Verify(Sign(%+v)) = false", r)
		}
		f := r // the forgery
		switch field % 7 {
		case 0:
			if alt == f.Target {
				return
			}
			f.Target = alt
		case 1:
			if alt == f.Command.Name {
				return
			}
			f.Command.Name = alt
		case 2:
			if alt == f.Command.Args {
				return
			}
			f.Command.Args = alt
		case 3:
			if sentMS+1 == 0 {
				return // the epoch is signed as 0, like the zero time
			}
			f.Sent = time.UnixMilli(sentMS + 1)
		case 4:
			if sentMS+dlDelta+1 == 0 {
				return
			}
			f.Deadline = time.UnixMilli(sentMS + dlDelta + 1)
		case 5:
			if alt == f.Nonce {
				return
			}
			f.Nonce = alt
		case 6:
			f.Balanced = !f.Balanced
		}
		if bytes.Equal(domain.SigningPayload(&f), domain.SigningPayload(&r)) {
			t.Fatalf("changing field %d left the payload unchanged: %+v vs %+v", field%7, f, r)
		}
		if domain.Verify(testKey, &f) {
			t.Fatalf("changing field %d kept the signature valid: %+v", field%7, f)
		}
	})
}
