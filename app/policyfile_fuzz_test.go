package app_test

import (
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// FuzzParsePolicy: any file either parses into a policy whose decisions
// never panic, or is refused with one line.
func FuzzParsePolicy(f *testing.F) {
	f.Add(testPolicy)
	f.Add("rules: []\n")
	f.Add("rules:\n  - allow: ['*']\n    args: '(a|b)*'\n")
	f.Add("groups:\n  g: [x]\nrules:\n  - deny: ['@g', '@fleet-key']\n    targets: ['#.x.*']\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := app.ParsePolicy([]byte(text))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a two-line error: %q", err)
			}
			return
		}
		req := &domain.Request{Target: "group1.web", Command: domain.Command{Name: "echo", Args: "hi"}}
		for _, proof := range []domain.Proof{domain.ProofNone, domain.ProofFleetKey, domain.ProofKey} {
			_ = p.Decide("x", proof, req).Reason()
		}
	})
}
