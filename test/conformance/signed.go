package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// testSigned checks that a signed request (domain.Sign) reaches the handler
// with its nonce and signature intact and still verifies, on the topic
// exchange and through a work queue: a transport that rounded a signed
// field (AMQP's whole-second timestamp) or dropped a header would fail every
// signed call.
func testSigned(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	key := []byte("conformance-key-0123456789abcdef")
	verify := func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		result := "verified"
		if !domain.Verify(key, req) {
			result = "signature does not verify"
		}
		_ = rw.Reply(ctx, domain.Reply{Server: "signed", Kind: domain.KindResult, Result: result + " " + req.Nonce})
	}
	serve(t, tr, worker("signed", "signers"), verify)
	for _, req := range []*domain.Request{request("signed", "echo", "plain"), balanced("signers", "echo", "work")} {
		req.Sent = req.Sent.Add(987654 * time.Nanosecond) // below a millisecond: not on the wire, not signed
		req.Nonce = "nonce-" + req.ID
		domain.Sign(key, req)
		s := newSink()
		send(t, tr, req, s)
		if r := s.next(t); r.Result != "verified "+req.Nonce {
			t.Errorf("%s (balanced %v): handler saw %q", req.Command, req.Balanced, r.Result)
		}
	}
}
