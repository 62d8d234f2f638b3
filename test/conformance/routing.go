package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// classic starts q1 (group1.#, all.#, q1.#) and q2 (group2.#, all.#, q2.#).
func classic(t *testing.T, tr ports.Transport) {
	t.Helper()
	serve(t, tr, ports.Endpoint{Name: "q1", Bindings: []string{"group1.#", "all.#", "q1.#"}}, echo("q1"))
	serve(t, tr, ports.Endpoint{Name: "q2", Bindings: []string{"group2.#", "all.#", "q2.#"}}, echo("q2"))
}

func testTargeting(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	classic(t, tr)
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"all", []string{"q1", "q2"}},
		{"group1", []string{"q1"}},
		{"group2", []string{"q2"}},
		{"q1", []string{"q1"}},
		{"q2.deeper.key", []string{"q2"}},
	} {
		s := newSink()
		send(t, tr, request(tc.target, "echo", "hello "+tc.target), s)
		if got := s.results(t, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s reached %v, want %v", tc.target, got, tc.want)
		}
		s.none(t, 50*time.Millisecond)
	}
}

func testUnroutable(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	classic(t, tr)
	for _, target := range []string{"group9", "", "group1x", "q"} {
		sendUnroutable(t, tr, request(target, "echo", "x"), fmt.Sprintf("send to %q", target))
	}
}

func testOneCopyPerQueue(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var calls counter
	serve(t, tr, ports.Endpoint{Name: "dup", Bindings: []string{"a.#", "a.*", "#", "a.b"}}, func(ctx contextT, req *domain.Request, rw ports.ReplyWriter) {
		calls.add(req.ID)
		echo("dup")(ctx, req, rw)
	})
	s := newSink()
	req := request("a.b", "echo", "once")
	send(t, tr, req, s)
	s.results(t, 1)
	s.none(t, 100*time.Millisecond)
	if n := calls.get(req.ID); n != 1 {
		t.Fatalf("handled %d times, want once", n)
	}
}

func testRoutes(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	classic(t, tr)
	got, err := tr.Routes(t.Context(), "group1")
	if !feat.Routes {
		if !errors.Is(err, ports.ErrRoutesUnknown) {
			t.Fatalf("Routes = %v, %v; a transport without routes must say ErrRoutesUnknown", got, err)
		}
		return
	}
	if err != nil || !slices.Equal(got, []string{"q1"}) {
		t.Fatalf("Routes(group1) = %v, %v", got, err)
	}
	if got, err := tr.Routes(t.Context(), "all"); err != nil || !slices.Equal(got, []string{"q1", "q2"}) {
		t.Fatalf("Routes(all) = %v, %v", got, err)
	}
	if got, err := tr.Routes(t.Context(), "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("Routes(nobody) = %v, %v", got, err)
	}
	// A new binding is seen at once.
	serve(t, tr, ports.Endpoint{Name: "q3", Bindings: []string{"group1.#"}}, echo("q3"))
	if got, err := tr.Routes(t.Context(), "group1"); err != nil || !slices.Equal(got, []string{"q1", "q3"}) {
		t.Fatalf("Routes(group1) after q3 joined = %v, %v", got, err)
	}
}
