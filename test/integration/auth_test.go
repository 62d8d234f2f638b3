package integration_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
)

// authKeyFile writes a fresh key file, mode 600, and returns its path and key.
func authKeyFile(t *testing.T) (string, []byte) {
	t.Helper()
	key := []byte("integration-test-key-" + time.Now().Format(time.RFC3339Nano))
	path := filepath.Join(t.TempDir(), "auth.key")
	if err := os.WriteFile(path, append(key, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, key
}

// rawCall publishes req to the fleet's exchange with amqp091-go alone, the
// wire format written out by hand (adapters/amqp/doc.go), and returns the
// result reply's code and error ("" and the body when ok).
func rawCall(t *testing.T, f *fleet, req *domain.Request) (code, text string) {
	t.Helper()
	ch := amqptest.Channel(t, f.b.URL)
	replies, err := ch.Consume("amq.rabbitmq.reply-to", "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := amqp091.Table{"topicrpc-target": req.Target, "topicrpc-sent": req.Sent.UnixMilli()}
	if req.Nonce != "" {
		h["topicrpc-nonce"] = req.Nonce
	}
	if req.Signature != nil {
		h["topicrpc-signature"] = base64.StdEncoding.EncodeToString(req.Signature)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = ch.PublishWithContext(ctx, f.ns, req.Target, false, false, amqp091.Publishing{
		CorrelationId: req.ID, ReplyTo: "amq.rabbitmq.reply-to", Type: req.Command.Name,
		Timestamp: req.Sent, Headers: h, Body: []byte(req.Command.Args),
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case d := <-replies:
			if d.Type != "result" || d.CorrelationId != req.ID {
				continue
			}
			code, _ := d.Headers["topicrpc-code"].(string)
			text, _ := d.Headers["topicrpc-error"].(string)
			if code == "" {
				text = string(d.Body)
			}
			return code, text
		case <-ctx.Done():
			t.Fatalf("no result for %s in 10s", req.ID)
		}
	}
}

// TestAuthEndToEnd: topicrpcd with --auth-key-file answers a
// topicrpc holding the same key, refuses one without it and forged or
// replayed requests published by hand, and keeps serving.
func TestAuthEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	keyPath, key := authKeyFile(t)
	f.server("s1", "--auth-key-file", keyPath)

	r := f.client("", "call", "--auth-key-file", keyPath, "s1", "echo|signed hello")
	if r.Code != 0 || !strings.Contains(r.Out, "signed hello") {
		t.Fatalf("signed call: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "-o", "json", "s1", "echo|unsigned")
	if r.Code != 1 || !strings.Contains(r.Out, `"code":"unauthorized"`) || strings.Contains(r.Out, `"result":"unsigned"`) {
		t.Fatalf("unsigned call: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}

	// By hand: a correctly signed request goes through once; the same
	// message again is a replay; a forged one (args changed after signing)
	// and one signed with another key are refused.
	now := time.Now()
	req := &domain.Request{ID: "raw-1", Target: "s1", Command: domain.Command{Name: "echo", Args: "by hand"},
		Sent: now, Nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
	domain.Sign(key, req)
	if code, text := rawCall(t, f, req); code != "" || text != "by hand" {
		t.Fatalf("signed by hand: code %q, %q", code, text)
	}
	if code, text := rawCall(t, f, req); code != domain.CodeUnauthorized || !strings.Contains(text, "replayed") {
		t.Errorf("replayed: code %q, %q", code, text)
	}
	forged := *req
	forged.ID, forged.Nonce, forged.Command.Args = "raw-2", "11111111111111111111111111111111", "rm -rf /"
	if code, text := rawCall(t, f, &forged); code != domain.CodeUnauthorized || !strings.Contains(text, "signature") {
		t.Errorf("forged: code %q, %q", code, text)
	}
	other := domain.Request{ID: "raw-3", Target: "s1", Command: domain.Command{Name: "echo", Args: "x"}, Sent: now,
		Nonce: "22222222222222222222222222222222"}
	domain.Sign([]byte("not the fleet's key, but 32 bytes or more"), &other)
	if code, _ := rawCall(t, f, &other); code != domain.CodeUnauthorized {
		t.Errorf("other key: code %q", code)
	}
	stale := domain.Request{ID: "raw-4", Target: "s1", Command: domain.Command{Name: "echo", Args: "x"},
		Sent: now.Add(-10 * time.Minute), Nonce: "33333333333333333333333333333333"}
	domain.Sign(key, &stale)
	if code, text := rawCall(t, f, &stale); code != domain.CodeUnauthorized || !strings.Contains(text, "older") {
		t.Errorf("ten minutes old: code %q, %q", code, text)
	}

	r = f.client("", "call", "--auth-key-file", keyPath, "s1", "fib|30")
	if r.Code != 0 || !strings.Contains(r.Out, "832040") {
		t.Fatalf("the server stopped serving: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
}

// TestExecEndToEnd: exec runs only the programs --allow-exec names, with
// quoted arguments and no shell; a server without --allow-exec has no exec.
func TestExecEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	f.server("s1", "--allow-exec", "echo=/bin/echo")
	f.server("s2")

	r := f.client("", "call", "-o", "json", "s1", `exec|echo hello "big world"`)
	if r.Code != 0 || !strings.Contains(r.Out, `"result":"hello big world"`) {
		t.Fatalf("exec echo: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "-o", "json", "s1", "exec|sh -c id")
	if r.Code != 1 || !strings.Contains(r.Out, `"code":"bad_args"`) || !strings.Contains(r.Out, "allowed names: echo") {
		t.Errorf("exec sh: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "-o", "json", "s2", "exec|echo hi")
	if r.Code != 1 || !strings.Contains(r.Out, `"code":"unknown_command"`) {
		t.Errorf("exec on a server without --allow-exec: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
}
