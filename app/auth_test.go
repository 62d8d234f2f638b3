package app_test

import (
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

var (
	serverKey = []byte("the server's key, 32 bytes or more")
	otherKey  = []byte("someone else's key, also 32 bytes!")
)

// keyedServer starts server "s1" with serverKey on a fresh memory transport
// and returns the transport and the server's log.
func keyedServer(t *testing.T) (*memory.Transport, *testkit.LockedBuffer) {
	t.Helper()
	tr := testkit.MemoryTransport(t)
	var logs testkit.LockedBuffer
	// Acknowledging at once (AckDelay < 0) lets the tests see that only an
	// accepted request is acknowledged, however fast its handler.
	s := app.NewServer(tr, app.ServerConfig{Name: "s1", AuthKey: serverKey, AckDelay: app.AckAtOnce},
		slog.New(slog.NewTextHandler(&logs, nil)))
	testkit.Start(t, s, 0)
	return tr, &logs
}

func TestSignedRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		key      []byte
		wantCode string // empty: ok
		reason   string
	}{
		{"same key", serverKey, "", ""},
		{"unsigned", nil, domain.CodeUnauthorized, "not signed"},
		{"wrong key", otherKey, domain.CodeUnauthorized, "signature does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, logs := keyedServer(t)
			c := app.NewClient(tr, app.ClientConfig{Timeout: 5 * time.Second, AuthKey: tc.key}, quiet)
			sum, outs := do(t, c, "s1", "echo|hi there")
			o := outs["s1"]
			if tc.wantCode == "" {
				if o.State != domain.StateOK || o.Reply.Result != "hi there" || sum.OK != 1 {
					t.Fatalf("outcome %+v, summary %+v", o, sum)
				}
				if logs.String() != "" {
					t.Errorf("the server logged on a good request:\n%s", logs)
				}
				return
			}
			switch {
			case tc.key == nil:
				// A client without a key takes replies as they come.
				if o.State != domain.StateError || o.Reply.Code != tc.wantCode || !strings.Contains(o.Reply.Error, tc.reason) {
					t.Fatalf("outcome %+v, want %s (%s)", o.Reply, tc.wantCode, tc.reason)
				}
			default:
				// A client with another key cannot verify the server's
				// signed refusal: it is refused as unproven, never shown
				// as the server's answer.
				if o.State != domain.StateNotReceived || sum.Forged != 1 || len(sum.ForgedClaims) != 1 || sum.ForgedClaims[0] != "s1" {
					t.Fatalf("outcome %+v, summary %+v; want s1 not received, its reply refused", o, sum)
				}
			}
			log := logs.String()
			for _, want := range []string{"level=WARN", "server=s1", "call=", "target=s1", "command=echo", tc.reason} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			if n := strings.Count(log, "\n"); n != 1 {
				t.Errorf("%d log lines, want 1:\n%s", n, log)
			}
			for _, secret := range [][]byte{serverKey, otherKey} {
				if strings.Contains(log, string(secret)) || strings.Contains(log, hex.EncodeToString(secret)) {
					t.Errorf("a key is in the log:\n%s", log)
				}
			}
		})
	}
}

// sink collects the replies of requests sent through the transport directly.
type sink chan domain.Reply

func (s sink) Deliver(r domain.Reply) {
	select {
	case s <- r:
	default:
	}
}

// result waits for the next result reply and tells whether an ack came first.
func (s sink) result(t *testing.T) (r domain.Reply, acked bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r := <-s:
			if r.Kind == domain.KindResult {
				return r, acked
			}
			acked = acked || r.Kind == domain.KindAck
		case <-timeout:
			t.Fatal("no result in 5s")
		}
	}
}

func TestSignedRequestReplayed(t *testing.T) {
	t.Parallel()
	tr, logs := keyedServer(t)
	now := time.Now()
	req := &domain.Request{ID: "replay-1", Target: "s1", Command: domain.Command{Name: "echo", Args: "once"},
		Sent: now, Deadline: now.Add(5 * time.Second), Nonce: "0123456789abcdef0123456789abcdef"}
	domain.Sign(serverKey, req)
	replies := make(sink, 16)
	for i, want := range []string{"", domain.CodeUnauthorized} {
		if err := tr.Send(t.Context(), req, replies); err != nil {
			t.Fatal(err)
		}
		r, acked := replies.result(t)
		if r.Code != want || (want == "" && r.Result != "once") {
			t.Fatalf("send #%d: %+v, want code %q", i+1, r, want)
		}
		if acked != (want == "") {
			t.Errorf("send #%d: acknowledged %v; only an accepted request is acknowledged", i+1, acked)
		}
	}
	log := logs.String()
	if !strings.Contains(log, "replayed") || strings.Contains(log, base64.StdEncoding.EncodeToString(req.Signature)) ||
		strings.Contains(log, hex.EncodeToString(req.Signature)) {
		t.Errorf("log:\n%s", log)
	}
}

func TestSignedRequestTooOld(t *testing.T) {
	t.Parallel()
	tr, _ := keyedServer(t)
	sent := time.Now().Add(-10 * time.Minute)
	req := &domain.Request{ID: "old-1", Target: "s1", Command: domain.Command{Name: "echo", Args: "stale"},
		Sent: sent, Nonce: "fedcba9876543210fedcba9876543210"}
	domain.Sign(serverKey, req)
	replies := make(sink, 16)
	if err := tr.Send(t.Context(), req, replies); err != nil {
		t.Fatal(err)
	}
	if r, _ := replies.result(t); r.Code != domain.CodeUnauthorized || !strings.Contains(r.Error, "older than the replay window") {
		t.Fatalf("reply %+v, want unauthorized: too old", r)
	}
}

// TestSignedRequestsReachEveryServer: one signed call to several servers (one
// nonce, routed to all) and to named servers (one nonce each) is accepted by
// each; a server without a key accepts signed requests too.
func TestSignedRequestsReachEveryServer(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	f := app.NewFleet(tr, []app.ServerConfig{
		{Name: "k1", AuthKey: serverKey}, {Name: "k2", AuthKey: serverKey}, {Name: "open"},
	}, quiet)
	testkit.Start(t, f, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: time.Second, AuthKey: serverKey}, quiet)
	// The open server is not a member of the keyed fleet: its register entry
	// is unsigned, so a client with the key does not expect it, and its
	// unsigned reply cannot be told from a forgery: refused.
	// (The call ends once k1 and k2 answered: open's refused reply may come
	// after it, uncounted.)
	if sum, outs := do(t, c, "all", "fib|10"); sum.OK != 2 || sum.Expected != 2 || sum.Forged > 1 ||
		sum.Forged == 1 && sum.ForgedClaims[0] != "open" || outs["open"].Server != "" {
		t.Errorf("call all: %+v %+v", sum, outs)
	}
	sum, _, err := c.Do(t.Context(), "some", domain.Command{Name: "echo", Args: "x"}, app.Servers("k1", "k2"))
	if err != nil || sum.OK != 2 {
		t.Errorf("call k1, k2 by name: %+v, %v", sum, err)
	}
	// Unsigned: the keyed servers refuse, the open one answers.
	unsigned := app.NewClient(tr, app.ClientConfig{Timeout: 5 * time.Second}, quiet)
	sum, outs := do(t, unsigned, "all", "fib|10")
	if sum.OK != 1 || sum.Failed != 2 || outs["open"].State != domain.StateOK ||
		outs["k1"].Reply.Code != domain.CodeUnauthorized {
		t.Errorf("unsigned call all: %+v %+v", sum, outs)
	}
}
