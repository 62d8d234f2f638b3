package amqp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
)

// How requests and replies look on the wire; doc.go has the table.
const (
	contentType = "text/plain; charset=utf-8"

	hdrTarget   = "topicrpc-target"   // request: routing key as sent (string)
	hdrSent     = "topicrpc-sent"     // request: Request.Sent, unix ms (int64); the timestamp property has whole seconds only
	hdrDeadline = "topicrpc-deadline" // request: Request.Deadline, unix ms (int64); absent without deadline
	hdrElapsed  = "topicrpc-elapsed"  // reply: Reply.Elapsed in ns (int64); absent when 0
	hdrError    = "topicrpc-error"    // reply: Reply.Error (string); present on error replies only
	hdrCode     = "topicrpc-code"     // reply: Reply.Code (string); present on error replies only
	hdrRecord   = "topicrpc-record"   // request: Request.Record (bool); present when true only

	// maxShortString is the AMQP limit on short strings: names, ids, and the
	// correlation-id, reply-to, type and app-id properties. A longer one would
	// make the client library write a broken frame and lose the connection.
	maxShortString = 255
	// maxErrorText bounds Reply.Error: message headers must fit in one frame
	// (128 KiB by default), so a huge error message is cut here, where a
	// signing server cuts it too (domain.MaxErrorText).
	maxErrorText = domain.MaxErrorText
)

// Signed requests (domain.Sign) carry two more headers; the signature covers
// topicrpc-sent's milliseconds, never the whole-second timestamp property.
const (
	hdrNonce  = "topicrpc-nonce"     // request: Request.Nonce (string); signed requests only
	hdrSig    = "topicrpc-signature" // request or reply: its Signature, base64 std (string; raw bytes accepted); signed ones only
	hdrCaller = "topicrpc-caller"    // request: Request.Caller (string); absent when empty
)

// The caller's W3C trace context, under the names other AMQP tracing
// uses; not signed, and ignored when malformed (see traceHeader).
const (
	hdrTraceParent = "traceparent" // request: Request.Trace.Parent (string), at most domain.MaxTraceParent bytes
	hdrTraceState  = "tracestate"  // request: Request.Trace.State (string), at most domain.MaxTraceState bytes
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("malformed message")

// encodeRequest builds the message for req. replyTo is where replies go;
// now is used to turn req.Deadline into a per-message expiration.
func encodeRequest(req *domain.Request, replyTo string, now time.Time) (amqp.Publishing, error) {
	switch {
	case req.ID == "":
		return amqp.Publishing{}, errors.New("request has no ID")
	case len(req.ID) > maxShortString:
		return amqp.Publishing{}, fmt.Errorf("request ID is %d bytes, at most %d allowed", len(req.ID), maxShortString)
	}
	if err := domain.ValidateKey(req.Target); err != nil {
		return amqp.Publishing{}, err
	}
	if err := req.Command.Validate(); err != nil {
		return amqp.Publishing{}, err
	}
	h := make(amqp.Table, 3)
	h[hdrTarget] = req.Target
	msg := amqp.Publishing{
		ContentType:   contentType,
		DeliveryMode:  amqp.Transient,
		CorrelationId: req.ID,
		ReplyTo:       replyTo,
		Type:          req.Command.Name,
		Timestamp:     req.Sent,
		Headers:       h,
		Body:          []byte(req.Command.Args),
	}
	if !req.Sent.IsZero() {
		h[hdrSent] = req.Sent.UnixMilli()
	}
	if !req.Deadline.IsZero() {
		h[hdrDeadline] = req.Deadline.UnixMilli()
		msg.Expiration = expiration(req.Deadline.Sub(now))
	}
	if req.Nonce != "" {
		h[hdrNonce] = req.Nonce
	}
	if req.Caller != "" {
		if len(req.Caller) > maxShortString {
			return amqp.Publishing{}, fmt.Errorf("caller name is %d bytes, at most %d allowed", len(req.Caller), maxShortString)
		}
		h[hdrCaller] = req.Caller
	}
	if req.Record {
		h[hdrRecord] = true
	}
	if len(req.Signature) > 0 {
		h[hdrSig] = base64.StdEncoding.EncodeToString(req.Signature)
	}
	if tc := req.Trace; tc != nil && tc.Parent != "" && len(tc.Parent) <= domain.MaxTraceParent {
		h[hdrTraceParent] = tc.Parent
		if tc.State != "" && len(tc.State) <= domain.MaxTraceState {
			h[hdrTraceState] = tc.State
		}
	}
	return msg, nil
}

// expiration renders the per-message TTL for a request due in d: whole
// milliseconds rounded up, at least 1 (a TTL of 0 would let the broker hand
// an expired request to a waiting consumer).
func expiration(d time.Duration) string {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}

// decodeRequest reads a request from d. It fails on messages that cannot be
// answered (no correlation id, no reply-to) and on malformed ones.
func decodeRequest(d *amqp.Delivery) (*domain.Request, error) {
	switch {
	case d.CorrelationId == "":
		return nil, fmt.Errorf("%w: no correlation id", errMalformed)
	case d.ReplyTo == "":
		return nil, fmt.Errorf("%w: no reply-to", errMalformed)
	}
	req := &domain.Request{
		ID:      d.CorrelationId,
		Target:  d.RoutingKey,
		Command: domain.Command{Name: d.Type, Args: string(d.Body)},
		Sent:    d.Timestamp,
	}
	if err := req.Command.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if v, ok := d.Headers[hdrTarget]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: header %s is a %T, not a string", errMalformed, hdrTarget, v)
		}
		req.Target = s
	}
	if v, ok := d.Headers[hdrSent]; ok {
		ms, ok := integer(v)
		if !ok {
			return nil, fmt.Errorf("%w: header %s is a %T, not an integer", errMalformed, hdrSent, v)
		}
		req.Sent = time.UnixMilli(ms)
	}
	if v, ok := d.Headers[hdrDeadline]; ok {
		ms, ok := integer(v)
		if !ok {
			return nil, fmt.Errorf("%w: header %s is a %T, not an integer", errMalformed, hdrDeadline, v)
		}
		req.Deadline = time.UnixMilli(ms)
	}
	if v, ok := d.Headers[hdrRecord]; ok {
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%w: header %s is a %T, not a boolean", errMalformed, hdrRecord, v)
		}
		req.Record = b
	}
	if v, ok := d.Headers[hdrNonce]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: header %s is a %T, not a string", errMalformed, hdrNonce, v)
		}
		req.Nonce = s
	}
	if v, ok := d.Headers[hdrCaller]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: header %s is a %T, not a string", errMalformed, hdrCaller, v)
		}
		req.Caller = s
	}
	if v, ok := d.Headers[hdrSig]; ok {
		sig, err := signature(v)
		if err != nil {
			return nil, fmt.Errorf("%w: header %s: %v", errMalformed, hdrSig, err)
		}
		req.Signature = sig
	}
	if tp := traceHeader(d.Headers, hdrTraceParent, domain.MaxTraceParent); tp != "" {
		req.Trace = &domain.TraceContext{Parent: tp, State: traceHeader(d.Headers, hdrTraceState, domain.MaxTraceState)}
	}
	return req, nil
}

// traceHeader returns the trace context header name of h, or "" when it is
// absent, not a string or longer than max: a request is never refused for
// its trace context, which only joins its spans to the caller's.
func traceHeader(h amqp.Table, name string, limit int) string {
	s, _ := h[name].(string)
	if len(s) > limit {
		return ""
	}
	return s
}

// signature reads the signature header: a base64 string (as encodeRequest
// writes it) or raw bytes (a byte-array field from another publisher).
func signature(v any) ([]byte, error) {
	switch s := v.(type) {
	case string:
		return base64.StdEncoding.DecodeString(s)
	case []byte:
		return s, nil
	}
	return nil, fmt.Errorf("a %T, not a base64 string", v)
}

// encodeReply builds the message for r.
func encodeReply(r *domain.Reply) (amqp.Publishing, error) {
	switch {
	case r.CallID == "":
		return amqp.Publishing{}, errors.New("reply has no call ID")
	case len(r.CallID) > maxShortString:
		return amqp.Publishing{}, fmt.Errorf("call ID is %d bytes, at most %d allowed", len(r.CallID), maxShortString)
	case len(r.Server) > maxShortString:
		return amqp.Publishing{}, fmt.Errorf("server name is %d bytes, at most %d allowed", len(r.Server), maxShortString)
	case len(r.Code) > maxShortString:
		return amqp.Publishing{}, fmt.Errorf("error code is %d bytes, at most %d allowed", len(r.Code), maxShortString)
	}
	kind := r.Kind.String()
	if _, ok := parseKind(kind); !ok {
		return amqp.Publishing{}, fmt.Errorf("unknown reply kind %d", r.Kind)
	}
	// Acks and progress replies usually need no headers at all, which
	// spares the client library encoding and decoding a table.
	var h amqp.Table
	if r.Elapsed != 0 || r.Error != "" || r.Code != "" || r.Signature != "" {
		h = make(amqp.Table, 4)
		if r.Signature != "" {
			h[hdrSig] = base64.StdEncoding.EncodeToString([]byte(r.Signature))
		}
		if r.Elapsed != 0 {
			h[hdrElapsed] = int64(r.Elapsed)
		}
		if r.Error != "" || r.Code != "" {
			h[hdrError] = domain.ClipError(r.Error)
			h[hdrCode] = r.Code
		}
	}
	return amqp.Publishing{
		ContentType:   contentType,
		DeliveryMode:  amqp.Transient,
		CorrelationId: r.CallID,
		AppId:         r.Server,
		Type:          kind,
		Headers:       h,
		Body:          []byte(r.Result),
	}, nil
}

// decodeReply reads a reply from d.
func decodeReply(d *amqp.Delivery) (domain.Reply, error) {
	r := domain.Reply{CallID: d.CorrelationId, Server: d.AppId, Result: string(d.Body)}
	if r.CallID == "" {
		return r, fmt.Errorf("%w: reply has no correlation id", errMalformed)
	}
	kind, ok := parseKind(d.Type)
	if !ok {
		return r, fmt.Errorf("%w: unknown reply kind %q", errMalformed, d.Type)
	}
	r.Kind = kind
	if v, ok := d.Headers[hdrElapsed]; ok {
		ns, _ := integer(v)
		r.Elapsed = time.Duration(ns)
	}
	r.Error, _ = d.Headers[hdrError].(string)
	r.Code, _ = d.Headers[hdrCode].(string)
	if v, ok := d.Headers[hdrSig]; ok {
		// A signature that does not decode is left out: the reply then fails
		// verification where a key is held, and means nothing where none is.
		sig, _ := signature(v)
		r.Signature = string(sig)
	}
	return r, nil
}

// parseKind is the inverse of domain.ReplyKind.String.
func parseKind(s string) (domain.ReplyKind, bool) {
	for _, k := range []domain.ReplyKind{domain.KindResult, domain.KindAck, domain.KindProgress} {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// integer returns the value of an integer header, whatever width the
// publisher chose.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case int:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
