package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// testClientFanOut drives the transport through the public client and server:
// a call ends as soon as every server answered, with each one's outcome.
func testClientFanOut(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	var cfgs []app.ServerConfig
	for i := range 5 {
		group := "odd"
		if i%2 == 0 {
			group = "even"
		}
		cfgs = append(cfgs, app.ServerConfig{Name: fmt.Sprintf("s%d", i), Bindings: []string{group + ".#"}, Concurrency: 2})
	}
	fleet := app.NewFleet(tr, cfgs, quiet)
	testkit.Start(t, fleet, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: wait, IdleGap: 300 * time.Millisecond}, quiet)

	for _, tc := range []struct {
		target string
		want   int
	}{{"all", 5}, {"even", 3}, {"odd", 2}, {"s3", 1}} {
		sum, outs, err := c.Do(t.Context(), tc.target, domain.Command{Name: "fib", Args: "30"})
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if sum.OK != tc.want || sum.Silent != 0 || sum.Failed != 0 {
			t.Errorf("%s: summary %+v, want %d ok", tc.target, sum, tc.want)
		}
		wantReason := domain.DoneAllReplied
		if !feat.Routes && !feat.Register {
			wantReason = domain.DoneIdle // nothing tells who should answer
		}
		if sum.Reason != wantReason {
			t.Errorf("%s: reason %v, want %v", tc.target, sum.Reason, wantReason)
		}
		for _, o := range outs {
			if o.Reply.Result != "832040" {
				t.Errorf("%s: %s answered %+v", tc.target, o.Server, o.Reply)
			}
		}
	}
}
