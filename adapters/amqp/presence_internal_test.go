package amqp

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

func TestPresenceRoundTrip(t *testing.T) {
	t.Parallel()
	sent := time.UnixMilli(1_700_000_000_123).Add(456 * time.Microsecond) // cut to the ms on the wire
	full := domain.Presence{
		Kind: domain.PresenceHeartbeat, Server: "q1", Queue: "shared", Bindings: []string{"all.#", "q1.#"},
		WorkGroups: []string{"resize"}, Commands: []string{"echo", "fib"}, Version: "v1", Host: "h1", PID: 99,
		Started: sent.Add(-time.Hour), Sent: sent, Interval: 2500 * time.Millisecond,
	}
	for _, p := range []domain.Presence{
		full,
		{Kind: domain.PresenceQuery, Sent: sent}, // a query says nothing else
		{Kind: domain.PresenceGoodbye, Server: "q2"},                    // zero times stay zero
		{Kind: domain.PresenceHello, Server: "ü", Bindings: []string{}}, // empty and nil slices alike
	} {
		body, err := encodePresence(p)
		if err != nil {
			t.Fatalf("encode %+v: %v", p, err)
		}
		got, err := decodePresence(body)
		if err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		want := p
		want.Started, want.Sent = cutMilli(p.Started), cutMilli(p.Sent)
		if !samePresenceForTest(got, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", body, got, want)
		}
	}
}

// TestPresenceWireNames pins the JSON field names: other programs read them.
func TestPresenceWireNames(t *testing.T) {
	t.Parallel()
	body, err := encodePresence(domain.Presence{
		Kind: domain.PresenceHello, Server: "s", Queue: "q", Bindings: []string{"b"}, WorkGroups: []string{"g"},
		Commands: []string{"c"}, Version: "v", Host: "h", PID: 1,
		Started: time.UnixMilli(1), Sent: time.UnixMilli(2), Interval: 3 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"kind": "hello", "server": "s", "queue": "q", "bindings": []any{"b"}, "work_groups": []any{"g"},
		"commands": []any{"c"}, "version": "v", "host": "h", "pid": 1.0,
		"started_ms": 1.0, "sent_ms": 2.0, "interval_ms": 3.0,
	}
	if len(m) != len(want) {
		t.Fatalf("wire fields %v, want %v", m, want)
	}
	for k, v := range want {
		got, _ := json.Marshal(m[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
}

func TestDecodePresenceRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``, `not json`, `[]`, `{}`, `{"kind":"farewell"}`, `{"kind":"hello","pid":"x"}`,
		`{"kind":"hello","interval_ms":-1}`, `{"kind":"hello","interval_ms":9223372036854775807}`,
	} {
		if p, err := decodePresence([]byte(body)); !errors.Is(err, errMalformed) {
			t.Errorf("decode %q = %+v, %v; want errMalformed", body, p, err)
		}
	}
	if _, err := encodePresence(domain.Presence{Kind: domain.PresenceQuery + 1}); err == nil {
		t.Error("encoded an unknown kind")
	}
}

func cutMilli(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli())
}

func samePresenceForTest(a, b domain.Presence) bool {
	return a.Kind == b.Kind && a.Server == b.Server && a.Queue == b.Queue && a.Version == b.Version &&
		a.Host == b.Host && a.PID == b.PID && a.Started.Equal(b.Started) && a.Sent.Equal(b.Sent) &&
		a.Interval == b.Interval && slices.Equal(a.Bindings, b.Bindings) &&
		slices.Equal(a.WorkGroups, b.WorkGroups) && slices.Equal(a.Commands, b.Commands)
}
