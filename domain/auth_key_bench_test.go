package domain_test

import (
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// BenchmarkRequestSignature is one request signed by the caller and
// verified by a server, and one reply signed by the server and verified by
// the client: the CPU each kind of key adds to a call, apart from the
// transport.
func BenchmarkRequestSignature(b *testing.B) {
	caller, server := mustKey(b, "alice"), mustKey(b, "s1")
	for _, kind := range []struct {
		name   string
		caller domain.Signer
		server domain.Signer
		trust  domain.Trust
	}{
		{"hmac", domain.Signer{FleetKey: testKey}, domain.Signer{FleetKey: testKey}, domain.Trust{FleetKey: testKey}},
		{"ed25519", domain.Signer{Key: &caller}, domain.Signer{Key: &server},
			domain.Trust{Keys: domain.NewKeyring(caller.Public(), server.Public())}},
	} {
		b.Run("kind="+kind.name, func(b *testing.B) {
			b.ReportAllocs()
			req := signedRequest()
			for b.Loop() {
				kind.caller.SignRequest(&req)
				if _, err := kind.trust.VerifyRequest(&req); err != nil {
					b.Fatal(err)
				}
				r := domain.Reply{CallID: req.ID, Server: "s1", Result: "hello"}
				kind.server.SignReply(&r)
				if !kind.trust.VerifyReply(&r) {
					b.Fatal("reply does not verify")
				}
			}
		})
	}
}
