package amqp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

func TestRegisterRoundTrip(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	g := domain.NewRegister(nil)
	for _, name := range []string{"b", "a"} {
		if err := g.Join(domain.Registration{Server: name, Queue: name, Bindings: []string{"all.#", name + ".#"},
			Commands: []string{"echo"}, Version: "0.2.0", Host: "h", PID: 7, Started: now}); err != nil {
			t.Fatal(err)
		}
	}
	g.Leave("b", now, now.Add(time.Second))
	msg, err := encodeRegister(g, now)
	if err != nil {
		t.Fatal(err)
	}
	back, skipped, err := decodeRegister(msg.Body, now)
	if err != nil || skipped != 0 || back.Len() != 2 {
		t.Fatalf("decode: %v, %d skipped, %d servers", err, skipped, back.Len())
	}
	b, _ := back.Get("b")
	if b.PID != 7 || !b.Left.Equal(now.Add(time.Second)) || b.Commands[0] != "echo" {
		t.Errorf("b = %+v", b)
	}
}

// Garbage is refused whole; bad entries are left out one by one, so that a
// forged entry (a broken name, a date far ahead) costs nothing but a count.
func TestDecodeRegisterRejects(t *testing.T) {
	now := time.Now()
	ok := `{"server":"ok","queue":"ok","bindings":["all.#"],"joined":1767225600000,"started":1767225600000,"seen":1767225600000}`
	future := strings.ReplaceAll(ok, `"seen":1767225600000`, `"seen":4070908800000`)
	future = strings.Replace(future, `"server":"ok","queue":"ok"`, `"server":"f","queue":"f"`, 1)
	dotted := strings.Replace(ok, `"server":"ok"`, `"server":"a.b"`, 1)
	for _, tc := range []struct {
		name    string
		body    []byte
		servers int
		skipped int
		fails   bool
	}{
		{"valid", gz(t, "["+ok+"]"), 1, 0, false},
		{"bad entries left out", gz(t, "["+ok+","+future+","+dotted+`,{"server":1}]`), 1, 3, false},
		{"not gzip", []byte("[]"), 0, 0, true},
		{"not json", gz(t, "{{"), 0, 0, true},
		{"not a list", gz(t, `{"server":"x"}`), 0, 0, true},
		{"too big", make([]byte, MaxRegisterBytes+1), 0, 0, true},
	} {
		g, skipped, err := decodeRegister(tc.body, now)
		switch {
		case tc.fails:
			if !errors.Is(err, errMalformed) {
				t.Errorf("%s: err %v, want malformed", tc.name, err)
			}
		case err != nil || g.Len() != tc.servers || skipped != tc.skipped:
			t.Errorf("%s: %v, %d servers, %d skipped; want %d and %d", tc.name, err, g.Len(), skipped, tc.servers, tc.skipped)
		}
	}
}
