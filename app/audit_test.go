package app_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Every request a server takes is one audit line: who vouched for it, what
// it asked, what came of it — refusals included — and never the key or a
// signature.
func TestAuditWritesOneLinePerRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     app.AuditArgs
		wantArgs func(r app.AuditRecord) bool
	}{
		{app.AuditArgsDigest, func(r app.AuditRecord) bool { return r.Args == nil && len(r.ArgsSHA256) == 64 }},
		{app.AuditArgsFull, func(r app.AuditRecord) bool { return r.Args != nil && r.ArgsSHA256 == "" }},
		{app.AuditArgsNone, func(r app.AuditRecord) bool { return r.Args == nil && r.ArgsSHA256 == "" }},
	} {
		tr := testkit.MemoryTransport(t)
		var log testkit.LockedBuffer
		srv := app.NewServer(tr, app.ServerConfig{Name: "a1", AuthKey: serverKey,
			Middleware: []app.Middleware{app.Audit(&log, tc.args)}}, quiet)
		testkit.Start(t, srv, 0)
		keyed := app.NewClient(tr, app.ClientConfig{Timeout: time.Second, AuthKey: serverKey}, quiet)
		anon := app.NewClient(tr, app.ClientConfig{Timeout: time.Second}, quiet)
		for _, call := range []struct {
			c   *app.Client
			cmd domain.Command
		}{
			{keyed, domain.Command{Name: "echo", Args: "secret-arg"}},
			{keyed, domain.Command{Name: "nope"}},
			{anon, domain.Command{Name: "echo", Args: "x"}},
		} {
			if _, _, err := call.c.Do(context.Background(), "a1", call.cmd); err != nil {
				t.Fatal(err)
			}
		}
		var recs []app.AuditRecord
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			var r app.AuditRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("not a JSON line: %q", sc.Text())
			}
			recs = append(recs, r)
		}
		want := []struct{ auth, command, outcome string }{
			{"fleet-key", "echo", "ok"}, {"fleet-key", "nope", domain.CodeUnknownCommand}, {"unverified", "echo", domain.CodeUnauthorized},
		}
		if len(recs) != len(want) {
			t.Fatalf("%d records, want %d:\n%s", len(recs), len(want), log.String())
		}
		for i, w := range want {
			r := recs[i]
			if r.Auth != w.auth || r.Caller != "" || r.Command != w.command || r.Outcome != w.outcome || r.Server != "a1" ||
				r.Target != "a1" || r.Call == "" || r.Time.IsZero() || !tc.wantArgs(r) {
				t.Errorf("args %d, record %d: %+v, want %+v", tc.args, i, r, w)
			}
			if w.outcome != "ok" && r.Reason == "" {
				t.Errorf("record %d has no reason", i)
			}
		}
		if tc.args == app.AuditArgsFull && *recs[0].Args != "secret-arg" {
			t.Errorf("full args: %q", *recs[0].Args)
		}
		if strings.Contains(log.String(), string(serverKey)) || strings.Contains(log.String(), hex.EncodeToString(serverKey)) {
			t.Error("the key is in the audit log")
		}
	}
}

// failingWriter fails its first n writes.
type failingWriter struct {
	n   int
	buf testkit.LockedBuffer
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n > 0 {
		w.n--
		return 0, errFailedWrite
	}
	return w.buf.Write(p)
}

var errFailedWrite = &json.UnsupportedValueError{Str: "disk full"}

// A record that cannot be written never fails the request; the next one
// written says how many were lost.
func TestAuditCountsLostRecords(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	w := &failingWriter{n: 2}
	srv := app.NewServer(tr, app.ServerConfig{Name: "a1", Middleware: []app.Middleware{app.Audit(w, app.AuditArgsNone)}}, quiet)
	testkit.Start(t, srv, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: time.Second}, quiet)
	for range 3 {
		if sum, _, err := c.Do(context.Background(), "a1", domain.Command{Name: "echo"}); err != nil || sum.OK != 1 {
			t.Fatalf("call: %+v, %v", sum, err)
		}
	}
	var r app.AuditRecord
	if err := json.Unmarshal([]byte(strings.TrimSpace(w.buf.String())), &r); err != nil || r.Lost != 2 {
		t.Errorf("record after two failed writes: %+v (%v)\n%s", r, err, w.buf.String())
	}
}
