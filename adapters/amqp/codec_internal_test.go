package amqp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
)

// deliver turns a publishing into the delivery a consumer would get.
func deliver(p amqp.Publishing, key string) *amqp.Delivery {
	return &amqp.Delivery{
		Headers: p.Headers, ContentType: p.ContentType, DeliveryMode: p.DeliveryMode,
		CorrelationId: p.CorrelationId, ReplyTo: p.ReplyTo, Expiration: p.Expiration,
		Timestamp: p.Timestamp, Type: p.Type, AppId: p.AppId, RoutingKey: key, Body: p.Body,
	}
}

func TestRequestRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name    string
		req     domain.Request
		wantExp string
	}{
		{"deadline", domain.Request{ID: "c1", Target: "group1.web", Command: domain.Command{Name: "echo", Args: "hi|there ü"},
			Sent: now, Deadline: now.Add(1500*time.Millisecond + 1)}, "1501"},
		{"no deadline", domain.Request{ID: "c2", Target: "all", Command: domain.Command{Name: "uptime"}, Sent: now}, ""},
		{"past deadline", domain.Request{ID: "c3", Target: "q1", Command: domain.Command{Name: "x"}, Sent: now,
			Deadline: now.Add(-time.Second)}, "1"},
		{"signed", signed(domain.Request{ID: "c4", Target: "group1", Command: domain.Command{Name: "echo", Args: "hi"},
			Sent: now.Add(999_999), Deadline: now.Add(2*time.Second + 7), Balanced: true, Nonce: "0123abcd"}), "2001"},
		{"signed with a caller", signed(domain.Request{ID: "c5", Target: "group1", Command: domain.Command{Name: "echo"},
			Sent: now, Caller: "alice", Nonce: "0123abce"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := encodeRequest(&tt.req, "reply-here", now)
			if err != nil {
				t.Fatal(err)
			}
			if msg.Expiration != tt.wantExp {
				t.Errorf("expiration = %q, want %q", msg.Expiration, tt.wantExp)
			}
			if msg.ReplyTo != "reply-here" || msg.ContentType != contentType {
				t.Errorf("message = %+v", msg)
			}
			got, err := decodeRequest(deliver(msg, tt.req.Target))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.req
			want.Sent = want.Sent.Truncate(time.Millisecond)
			want.Deadline = want.Deadline.Truncate(time.Millisecond)
			if got.ID != want.ID || got.Target != want.Target || got.Command != want.Command ||
				!got.Sent.Equal(want.Sent) || !got.Deadline.Equal(want.Deadline) ||
				got.Nonce != want.Nonce || got.Caller != want.Caller || !bytes.Equal(got.Signature, want.Signature) {
				t.Errorf("decoded %+v, want %+v", *got, want)
			}
			// The server marks balanced requests by the queue they came from.
			got.Balanced = want.Balanced
			if want.Signature != nil && !domain.Verify(testKey, got) {
				t.Error("the decoded request no longer verifies")
			}
		})
	}
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func signed(r domain.Request) domain.Request {
	domain.Sign(testKey, &r)
	return r
}

func TestDecodeSignatureHeaders(t *testing.T) {
	t.Parallel()
	sig := []byte{0, 1, 2, 0xff}
	base := func(h amqp.Table) *amqp.Delivery {
		return &amqp.Delivery{CorrelationId: "c", ReplyTo: "r", Type: "echo", RoutingKey: "k", Headers: h}
	}
	req, err := decodeRequest(base(amqp.Table{hdrNonce: "n", hdrSig: sig}))
	if err != nil || req.Nonce != "n" || !bytes.Equal(req.Signature, sig) {
		t.Errorf("raw bytes signature: %+v, %v", req, err)
	}
	req, err = decodeRequest(base(nil))
	if err != nil || req.Nonce != "" || req.Signature != nil {
		t.Errorf("unsigned: %+v, %v", req, err)
	}
	for _, h := range []amqp.Table{
		{hdrSig: "not base64!"},
		{hdrSig: int64(3)},
		{hdrNonce: int64(3)},
	} {
		if _, err := decodeRequest(base(h)); !errors.Is(err, errMalformed) {
			t.Errorf("headers %v: %v, want errMalformed", h, err)
		}
	}
}

// TestTraceContextHeaders: the trace context travels in the traceparent and
// tracestate headers within its bounds; past them, or of another type, it
// is left out, and the request is never refused for it.
func TestTraceContextHeaders(t *testing.T) {
	t.Parallel()
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req := domain.Request{ID: "c1", Target: "q1", Command: domain.Command{Name: "echo"}, Trace: &domain.TraceContext{Parent: tp, State: "a=b"}}
	msg, err := encodeRequest(&req, "r", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Headers[hdrTraceParent] != tp || msg.Headers[hdrTraceState] != "a=b" {
		t.Errorf("headers %v", msg.Headers)
	}
	got, err := decodeRequest(deliver(msg, "q1"))
	if err != nil || got.Trace == nil || *got.Trace != (domain.TraceContext{Parent: tp, State: "a=b"}) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	long := domain.Request{ID: "c1", Target: "q1", Command: domain.Command{Name: "echo"},
		Trace: &domain.TraceContext{Parent: strings.Repeat("0", domain.MaxTraceParent+1), State: "a=b"}}
	if msg, err := encodeRequest(&long, "r", time.Now()); err != nil || msg.Headers[hdrTraceParent] != nil || msg.Headers[hdrTraceState] != nil {
		t.Errorf("a traceparent over the bound: headers %v, %v", msg.Headers, err)
	}
	for _, h := range []amqp.Table{
		{hdrTraceParent: strings.Repeat("0", domain.MaxTraceParent+1), hdrTraceState: "a=b"},
		{hdrTraceParent: []byte(tp), hdrTraceState: "a=b"},
		{hdrTraceParent: int64(7)},
		{hdrTraceParent: tp, hdrTraceState: strings.Repeat("a", domain.MaxTraceState+1)},
	} {
		d := &amqp.Delivery{CorrelationId: "c", ReplyTo: "r", Type: "echo", RoutingKey: "k", Headers: h}
		got, err := decodeRequest(d)
		if err != nil {
			t.Errorf("headers %v: %v, want the request", h, err)
			continue
		}
		if tc := got.Trace; tc != nil && (tc.Parent != tp || tc.State != "") {
			t.Errorf("headers %v: trace context %+v, want none past the bounds", h, *tc)
		}
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 256)
	for _, req := range []domain.Request{
		{Target: "a", Command: domain.Command{Name: "echo"}},
		{ID: long, Target: "a", Command: domain.Command{Name: "echo"}},
		{ID: "c", Target: long, Command: domain.Command{Name: "echo"}},
		{ID: "c", Target: "a", Command: domain.Command{Name: "no such"}},
		{ID: "c", Target: "a", Command: domain.Command{Name: "echo", Args: "\xff"}},
	} {
		if _, err := encodeRequest(&req, "r", time.Now()); err == nil {
			t.Errorf("encodeRequest(%.40v) succeeded", req)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range []domain.Reply{
		{CallID: "c1", Server: "s1", Kind: domain.KindResult, Result: "ok", Elapsed: 1234 * time.Microsecond},
		{CallID: "c1", Server: "s1", Kind: domain.KindAck},
		{CallID: "c1", Server: "s1", Kind: domain.KindProgress, Result: "50%"},
		{CallID: "c1", Server: "s1", Kind: domain.KindResult, Error: "boom", Code: domain.CodeFailed, Elapsed: time.Second},
		{CallID: "c1", Server: "s1", Kind: domain.KindResult, Result: "signed", Signature: "0123456789abcdef0123456789abcdef"},
	} {
		msg, err := encodeReply(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeReply(deliver(msg, "reply-here"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("decoded %+v, want %+v", got, r)
		}
	}
	if msg, _ := encodeReply(&domain.Reply{CallID: "c", Kind: domain.KindAck}); msg.Headers != nil {
		t.Errorf("an ack carries headers %v", msg.Headers)
	}
	big := domain.Reply{CallID: "c", Kind: domain.KindResult, Error: strings.Repeat("é", maxErrorText), Code: domain.CodeFailed}
	msg, err := encodeReply(&big)
	if err != nil {
		t.Fatal(err)
	}
	if e := msg.Headers[hdrError].(string); len(e) > maxErrorText || !strings.HasPrefix(big.Error, e) {
		t.Errorf("error text of %d bytes not cut to %d on a rune boundary", len(e), maxErrorText)
	}
	if _, err := encodeReply(&domain.Reply{CallID: "c", Kind: 9}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestDecodeReplyRejects(t *testing.T) {
	t.Parallel()
	for _, d := range []amqp.Delivery{
		{Type: "result"},
		{CorrelationId: "c", Type: "shrug"},
	} {
		if _, err := decodeReply(&d); !errors.Is(err, errMalformed) {
			t.Errorf("decodeReply(%+v) = %v, want errMalformed", d, err)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add("c1", "r", "echo", []byte("hi"), "k", int64(1), "x")
	f.Add("", "", "", []byte{0xff}, "", int64(-1), "")
	f.Fuzz(func(t *testing.T, id, replyTo, typ string, body []byte, key string, deadline int64, target string) {
		d := &amqp.Delivery{CorrelationId: id, ReplyTo: replyTo, Type: typ, Body: body, RoutingKey: key,
			Headers: amqp.Table{hdrDeadline: deadline, hdrTarget: target}}
		req, err := decodeRequest(d)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if req.ID != id || req.Command.Validate() != nil {
			t.Fatalf("decoded %+v from %+v", req, d)
		}
	})
}

func BenchmarkEncodeRequest(b *testing.B) {
	now := time.Now()
	req := &domain.Request{ID: "call-0123456789", Target: "group1", Command: domain.Command{Name: "echo", Args: "hello"},
		Sent: now, Deadline: now.Add(10 * time.Second)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeRequest(req, directReplyTo, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	now := time.Now()
	req := &domain.Request{ID: "call-0123456789", Target: "group1", Command: domain.Command{Name: "echo", Args: "hello"},
		Sent: now, Deadline: now.Add(10 * time.Second)}
	msg, err := encodeRequest(req, directReplyTo, now)
	if err != nil {
		b.Fatal(err)
	}
	d := deliver(msg, "group1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRequest(d); err != nil {
			b.Fatal(err)
		}
	}
}
