package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// Expected outcomes of a poison input besides the error codes.
const (
	replyOK   = ""  // an ok result
	noReply   = "-" // nothing comes back (no reply-to, no correlation id, or not to us)
	okOrNone  = "?" // ok, or dropped by the broker (a per-message TTL of 0)
	expOrNone = "!" // expired, or dropped by the broker at its TTL
)

// poison is one raw message published to a server's queue.
type poison struct {
	name string
	msg  amqp091.Publishing
	// want is the code of the result the server sends (domain.Code…), or
	// replyOK, noReply, okOrNone, expOrNone.
	want string
	// raw: publish msg as it is; otherwise it gets a fresh correlation id,
	// the test's reply queue and a deadline header 30 s ahead where unset.
	raw bool
	// times publishes it more than once, as a redelivery would.
	times int
	// logged: the server logs one line rejecting or refusing each copy
	// (implied by want bad_request).
	logged bool
}

// TestPoisonMessages publishes at least 40 malformed, hostile or odd
// messages straight to a server's queue with amqp091-go and checks that the
// server answers each one it can with the expected error code, rejects the
// rest without requeueing (nothing is left on the queue, nothing comes back
// redelivered), logs each rejection in one line, and still answers a normal
// call at the end.
func TestPoisonMessages(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	space := namespace(t, b)
	ns := space.Exchange
	var logs testkit.LockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%.30000s", logs.String())
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	srvT := space.Transport(t, func(c *amqp.Config) { c.Logger = log })
	srv := app.NewServer(srvT, app.ServerConfig{Name: "s1", Concurrency: 4, NoDefaultBindings: true, Bindings: []string{"s1"}}, log)
	if err := srv.Handle("boom", func(context.Context, string) (string, error) { panic("kaboom") }); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, srv, 5*time.Second)

	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	replyQ, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(replyQ.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	text := func(name, args string) amqp091.Publishing {
		return amqp091.Publishing{ContentType: "text/plain; charset=utf-8", Type: name, Body: []byte(args)}
	}
	with := func(p amqp091.Publishing, f func(*amqp091.Publishing)) amqp091.Publishing { f(&p); return p }
	header := func(p amqp091.Publishing, k string, v any) amqp091.Publishing {
		return with(p, func(p *amqp091.Publishing) { p.Headers = amqp091.Table{k: v} })
	}
	echo := text("echo", "hello")
	mib := 1 << 20
	tests := []poison{
		// Properties missing or odd.
		{name: "no reply-to", msg: with(echo, func(p *amqp091.Publishing) { p.CorrelationId = "p-noreply" }), want: noReply, raw: true, logged: true},
		{name: "no correlation id", msg: with(echo, func(p *amqp091.Publishing) { p.ReplyTo = replyQ.Name }), want: noReply, raw: true, logged: true},
		{name: "no properties, binary body", msg: amqp091.Publishing{Body: []byte{0, 0xff, 0xfe, 7}}, want: noReply, raw: true, logged: true},
		{name: "empty message", msg: amqp091.Publishing{}, want: noReply, raw: true, logged: true},
		{name: "correlation id of 255 bytes", msg: with(echo, func(p *amqp091.Publishing) { p.CorrelationId = strings.Repeat("c", 255) }), want: replyOK},
		{name: "correlation id not UTF-8", msg: with(echo, func(p *amqp091.Publishing) { p.CorrelationId = "p-\xff\xfe" }), want: replyOK},
		{name: "correlation id with control characters", msg: with(echo, func(p *amqp091.Publishing) { p.CorrelationId = "p-a\nb\x00c" }), want: replyOK},
		{name: "reply-to a queue that does not exist", msg: with(echo, func(p *amqp091.Publishing) {
			p.CorrelationId, p.ReplyTo = "p-nowhere", "no-such-queue-"+ns
		}), want: noReply, raw: true},
		{name: "reply-to a forged direct reply-to address", msg: with(echo, func(p *amqp091.Publishing) {
			p.CorrelationId, p.ReplyTo = "p-forged", "amq.rabbitmq.reply-to.g2dkABN0b3BpY3JwY0Bsb2NhbGhvc3QAAAAAAAAAAAA.bogus"
		}), want: noReply, raw: true, logged: true},
		{name: "reply-to a direct reply-to address without a pid", msg: with(echo, func(p *amqp091.Publishing) {
			p.CorrelationId, p.ReplyTo = "p-nopid", "amq.rabbitmq.reply-to.abc"
		}), want: noReply, raw: true, logged: true},
		{name: "reply-to a direct reply-to address of a pid without node hash", msg: with(echo, func(p *amqp091.Publishing) {
			p.CorrelationId, p.ReplyTo = "p-nohash", "amq.rabbitmq.reply-to.g1h2AAlnZW5lcmF0ZWQAAAABAAAAAAAAAAA=.abc"
		}), want: noReply, raw: true, logged: true},
		{name: "reply-to of 255 bytes", msg: with(echo, func(p *amqp091.Publishing) {
			p.CorrelationId, p.ReplyTo = "p-longreply", strings.Repeat("r", 255)
		}), want: noReply, raw: true},
		// Answered into the server's own queue, where the reply (no
		// reply-to) is rejected: one line.
		{name: "reply-to the server's own queue", msg: with(echo, func(p *amqp091.Publishing) {
			p.CorrelationId, p.ReplyTo = "p-loop", ns+".s1"
		}), want: noReply, raw: true, logged: true},
		{name: "content type octet-stream", msg: with(echo, func(p *amqp091.Publishing) { p.ContentType = "application/octet-stream" }), want: replyOK},
		{name: "content type JSON", msg: with(text("echo", `{"a":1}`), func(p *amqp091.Publishing) { p.ContentType = "application/json" }), want: replyOK},
		{name: "gzip content encoding", msg: with(text("echo", "\x1f\x8b\x08\x00\xff\xfe"), func(p *amqp091.Publishing) { p.ContentEncoding = "gzip" }), want: domain.CodeBadRequest},
		{name: "priority 255", msg: with(echo, func(p *amqp091.Publishing) { p.Priority = 255 }), want: replyOK},
		{name: "persistent", msg: with(echo, func(p *amqp091.Publishing) { p.DeliveryMode = amqp091.Persistent }), want: replyOK},
		{name: "timestamp at the epoch", msg: with(echo, func(p *amqp091.Publishing) { p.Timestamp = time.Unix(0, 0) }), want: replyOK},
		{name: "app id and message id", msg: with(echo, func(p *amqp091.Publishing) { p.AppId, p.MessageId = "\xff", strings.Repeat("m", 255) }), want: replyOK},
		// The command: the type property.
		{name: "no command", msg: text("", "x"), want: domain.CodeBadRequest},
		{name: "command is a space", msg: text(" ", "x"), want: domain.CodeBadRequest},
		{name: "command with spaces", msg: text("rm -rf /", ""), want: domain.CodeBadRequest},
		{name: "command not UTF-8", msg: text("\xff\xfe", ""), want: domain.CodeBadRequest},
		{name: "command of 65 bytes", msg: text(strings.Repeat("e", 65), ""), want: domain.CodeBadRequest},
		{name: "command of 255 bytes", msg: text(strings.Repeat("e", 255), ""), want: domain.CodeBadRequest},
		{name: "unknown command", msg: text("nosuch", "x"), want: domain.CodeUnknownCommand},
		{name: "reply-shaped message", msg: with(text("result", "832040"), func(p *amqp091.Publishing) {
			p.AppId, p.Headers = "q9", amqp091.Table{"topicrpc-code": "failed", "topicrpc-error": "x", "topicrpc-elapsed": int64(5)}
		}), want: domain.CodeUnknownCommand},
		{name: "ack-shaped message without reply-to", msg: with(text("ack", ""), func(p *amqp091.Publishing) { p.CorrelationId, p.AppId = "p-ack", "q9" }),
			want: noReply, raw: true, logged: true},
		{name: "panicking handler", msg: text("boom", ""), want: domain.CodePanic},
		// The args: the body.
		{name: "args not UTF-8", msg: text("echo", "\xff\xfe"), want: domain.CodeBadRequest},
		{name: "binary garbage", msg: text("echo", "\x00\x01\x02\xff\x80garbage\xc0"), want: domain.CodeBadRequest},
		{name: "fib without args", msg: text("fib", ""), want: domain.CodeBadArgs},
		{name: "fib out of bounds", msg: text("fib", "94"), want: domain.CodeBadArgs},
		{name: "sleep forever", msg: text("sleep", "forever"), want: domain.CodeBadArgs},
		{name: "args of 1 MiB", msg: text("echo", strings.Repeat("a", mib)), want: replyOK},
		{name: "args one byte over 1 MiB", msg: text("echo", strings.Repeat("a", mib+1)), want: domain.CodeBadArgs, logged: true},
		{name: "body over the transport's limit", msg: text("echo", strings.Repeat("a", amqp.DefaultMaxBody+1)), want: domain.CodeBadRequest},
		// Headers of the wrong type or value.
		{name: "target not a string", msg: header(echo, "topicrpc-target", int32(7)), want: domain.CodeBadRequest},
		{name: "target not UTF-8", msg: header(echo, "topicrpc-target", "\xff.\xfe"), want: replyOK},
		{name: "target of 1 KiB", msg: header(echo, "topicrpc-target", strings.Repeat("t", 1024)), want: replyOK},
		{name: "deadline a string", msg: header(echo, "topicrpc-deadline", "soon"), want: domain.CodeBadRequest},
		{name: "deadline a float", msg: header(echo, "topicrpc-deadline", float64(ms(now.Add(time.Minute)))), want: domain.CodeBadRequest},
		{name: "deadline a boolean", msg: header(echo, "topicrpc-deadline", true), want: domain.CodeBadRequest},
		{name: "deadline void", msg: header(echo, "topicrpc-deadline", nil), want: domain.CodeBadRequest},
		{name: "deadline negative", msg: header(echo, "topicrpc-deadline", int64(-5)), want: domain.CodeExpired},
		{name: "deadline a small int32", msg: header(echo, "topicrpc-deadline", int32(5)), want: domain.CodeExpired},
		{name: "deadline the largest int64", msg: header(echo, "topicrpc-deadline", int64(math.MaxInt64)), want: replyOK},
		{name: "deadline in the year 3000", msg: header(echo, "topicrpc-deadline", ms(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))), want: replyOK},
		{name: "deadline a minute ago", msg: header(echo, "topicrpc-deadline", ms(now.Add(-time.Minute))), want: domain.CodeExpired},
		{name: "expired: TTL and deadline past", msg: with(header(echo, "topicrpc-deadline", ms(now.Add(-time.Second))), func(p *amqp091.Publishing) {
			p.Expiration = "1"
		}), want: expOrNone},
		{name: "TTL of zero", msg: with(echo, func(p *amqp091.Publishing) { p.Expiration = "0" }), want: okOrNone},
		{name: "sent a string", msg: header(echo, "topicrpc-sent", "yesterday"), want: domain.CodeBadRequest},
		{name: "sent far in the future", msg: header(echo, "topicrpc-sent", ms(now.Add(1000*time.Hour))), want: replyOK},
		{name: "unknown headers, nested", msg: header(echo, "x-junk", amqp091.Table{"a": []any{int32(1), "b", amqp091.Table{}}}), want: replyOK},
		{name: "a 60 KiB header", msg: header(echo, "x-big", strings.Repeat("h", 60<<10)), want: replyOK},
		// Delivered twice, as after a crash: each copy is answered once.
		{name: "same correlation id twice", msg: with(echo, func(p *amqp091.Publishing) { p.CorrelationId = "p-dup" }), want: replyOK, times: 2},
	}

	// Publish everything, then gather the replies.
	type expect struct {
		name           string
		want           string
		times, results int
	}
	expected := map[string]*expect{} // by correlation id
	published := 0
	for i, tc := range tests {
		msg := tc.msg
		if !tc.raw {
			if msg.CorrelationId == "" {
				msg.CorrelationId = fmt.Sprintf("p-%d", i)
			}
			msg.ReplyTo = replyQ.Name
			if _, ok := msg.Headers["topicrpc-deadline"]; !ok {
				h := amqp091.Table{"topicrpc-deadline": ms(now.Add(30 * time.Second))}
				for k, v := range msg.Headers {
					h[k] = v
				}
				msg.Headers = h
			}
		}
		if msg.ReplyTo == replyQ.Name {
			expected[msg.CorrelationId] = &expect{name: tc.name, want: tc.want, times: max(tc.times, 1)}
		}
		for range max(tc.times, 1) {
			if err := ch.PublishWithContext(ctx, ns, "s1", false, false, msg); err != nil {
				t.Fatalf("%s: publish: %v", tc.name, err)
			}
			published++
		}
	}

	handled := 0
	answerable := func(want string) bool { return want != noReply && want != okOrNone && want != expOrNone }
	answered := func() bool {
		for _, e := range expected {
			if answerable(e.want) && e.results < e.times {
				return false
			}
		}
		return true
	}
	// Gather results until every answerable input has its own, then one
	// more second for late, extra or unwanted replies to show.
	deadline := time.Now().Add(30 * time.Second)
	var quietUntil time.Time
	for {
		select {
		case d := <-deliveries:
			e := expected[d.CorrelationId]
			if e == nil {
				t.Errorf("a reply to %q, which should not be answered (type %s, headers %v)", d.CorrelationId, d.Type, d.Headers)
				continue
			}
			if d.Type != "result" {
				continue // acks and progress
			}
			e.results++
			code, _ := d.Headers["topicrpc-code"].(string)
			switch {
			case e.results > e.times:
				t.Errorf("%s: answered %d times, want %d", e.name, e.results, e.times)
			case e.want == noReply:
				t.Errorf("%s: answered %q", e.name, code)
			case e.want == okOrNone && code == "", e.want == expOrNone && code == domain.CodeExpired, code == e.want:
				if e.results == e.times {
					handled++
				}
			default:
				t.Errorf("%s: code %q (%v), want %q", e.name, code, d.Headers["topicrpc-error"], e.want)
			}
			if code == "" && d.AppId != "s1" {
				t.Errorf("%s: reply from %q", e.name, d.AppId)
			}
		case <-time.After(100 * time.Millisecond):
		}
		now := time.Now()
		if answered() && quietUntil.IsZero() {
			quietUntil = now.Add(time.Second)
		}
		if !quietUntil.IsZero() && now.After(quietUntil) {
			break
		}
		if now.After(deadline) {
			for id, e := range expected {
				if answerable(e.want) && e.results < e.times {
					t.Errorf("%s (%q): %d of %d results within 30 s", e.name, id, e.results, e.times)
				}
			}
			break
		}
	}
	// The inputs that cannot be answered count as handled once nothing of
	// them is left on the queue; those the broker may drop too.
	for _, tc := range tests {
		switch tc.want {
		case noReply:
			handled++
		case okOrNone, expOrNone:
			if e := expected[tc.msg.CorrelationId]; e == nil || e.results == 0 {
				handled++
			}
		}
	}

	// Nothing left on the queue, nothing unacknowledged, nothing redelivered.
	queue := ns + ".s1"
	if q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("queue %s: %v", queue, err)
	} else if q.Messages != 0 {
		t.Errorf("queue %s holds %d messages: poison must be rejected, not requeued", queue, q.Messages)
	}
	for wait := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		ready, unacked, err := queueDepth(b, queue) // statistics lag by up to 5 s
		if err != nil {
			t.Fatalf("queue %s: %v", queue, err)
		}
		if ready == 0 && unacked == 0 {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("queue %s holds %d ready and %d unacknowledged messages: poison must be settled, not requeued", queue, ready, unacked)
		}
	}
	if strings.Contains(logs.String(), `"redelivered":true`) {
		t.Errorf("a message came back redelivered:\n%s", logs.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log entry spans several lines: %.200s", line)
		}
	}
	rejected := strings.Count(logs.String(), "rejected a malformed request") + strings.Count(logs.String(), "refused a request")
	wantRejected := 0
	for _, tc := range tests {
		if tc.logged || tc.want == domain.CodeBadRequest {
			wantRejected += max(tc.times, 1)
		}
	}

	// Still serving: a normal call through the client.
	cliT := space.Transport(t, space.WithManagement)
	c := app.NewClient(cliT, app.ClientConfig{Timeout: 10 * time.Second}, log)
	sum, outs, err := c.Do(t.Context(), "s1", domain.Command{Name: "fib", Args: "30"})
	if err != nil || sum.OK != 1 || len(outs) != 1 || outs[0].Reply.Result != "832040" {
		t.Fatalf("the server no longer answers: %v %+v %+v", err, sum, outs)
	}
	t.Logf("%d inputs tried (%d messages published), %d handled, %d rejections logged, server alive", len(tests), published, handled, rejected)
	if len(tests) < 40 || handled != len(tests) {
		t.Errorf("%d inputs tried, %d handled", len(tests), handled)
	}
	if rejected != wantRejected {
		t.Errorf("%d rejections logged, want %d: one line for each input refused", rejected, wantRejected)
	}
}

// queueDepth reads a queue's ready and unacknowledged message counts from
// the management API, as soon as it has them.
func queueDepth(b *brokertest.Broker, queue string) (ready, unacked int, err error) {
	if b.ManagementURL == "" {
		return 0, 0, fmt.Errorf("no management API")
	}
	resp, err := http.Get(strings.TrimRight(b.ManagementURL, "/") + "/api/queues/%2F/" + url.PathEscape(queue))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, 0, err
	}
	var q struct {
		Ready   *int `json:"messages_ready"`
		Unacked *int `json:"messages_unacknowledged"`
	}
	if err := json.Unmarshal(buf.Bytes(), &q); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", buf.String(), err)
	}
	if q.Ready == nil || q.Unacked == nil {
		return -1, -1, nil // the statistics are not in yet
	}
	return *q.Ready, *q.Unacked, nil
}
