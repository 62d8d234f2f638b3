package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// testBalancedOncePerFleet checks that a signed balanced request runs once
// per fleet, not once per member (app's claimOnce step over the
// transport's ports.Claimer): the same request sent again and again to the
// work queue is run by one server, answered once, and dropped by the others
// unanswered; and that a claim goes back with its delivery, so a request
// given back mid-job still runs elsewhere (at least once).
func testBalancedOncePerFleet(t *testing.T, f Factory, feat Features) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Factory, Features)
	}{
		{"RepublishedRunsOnce", testClaimRepublished},
		{"GivenBackRunsElsewhere", testClaimGivenBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, f, feat)
		})
	}
}

var claimKey = []byte("conformance-claim-key-0123456789")

// claimServer starts a keyed app.Server working for group with the command
// count, which records its runs in calls and then runs work.
func claimServer(t *testing.T, f *claimFleet, name string, work func(ctx context.Context, args string) error) *app.Server {
	t.Helper()
	s := app.NewServer(f.tr, app.ServerConfig{Name: name, AuthKey: claimKey, WorkGroups: []string{f.group},
		Middleware: []app.Middleware{f.out.middleware}}, quiet)
	if err := s.Handle("count", func(ctx context.Context, args string) (string, error) {
		f.calls.add(args)
		if work != nil {
			if err := work(ctx, args); err != nil {
				return "", err
			}
		}
		return name + " " + args, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(testkit.Context(t, wait)); err != nil {
		t.Fatal(err)
	}
	return s
}

type claimFleet struct {
	tr    ports.Transport
	group string
	calls counter
	out   outcomes
}

// signedBalanced returns a signed balanced request of count to group.
func signedBalanced(group, args string) *domain.Request {
	req := balanced(group, "count", args)
	req.Nonce = "nonce-" + req.ID
	domain.Sign(claimKey, req)
	return req
}

func testClaimRepublished(t *testing.T, f Factory, _ Features) {
	fl := &claimFleet{tr: f(t), group: "claims"}
	for _, name := range []string{"c1", "c2", "c3"} {
		s := claimServer(t, fl, name, func(context.Context, string) error {
			time.Sleep(20 * time.Millisecond) // busy: the copies go to the others
			return nil
		})
		t.Cleanup(func() { _ = s.Stop(testkit.Context(t, wait)) })
	}
	req := signedBalanced(fl.group, "once")
	s := newSink()
	const copies = 6
	for range copies {
		send(t, fl.tr, req, s)
	}
	if r := s.result(t, req.ID); !r.OK() || r.Result == "" {
		t.Fatalf("result %+v", r)
	}
	// Every copy taken: one ran, the others were dropped as duplicates.
	waitUntil(t, func() bool { return len(fl.out.list()) == copies }, "every copy taken")
	s.none(t, 200*time.Millisecond) // no second result, no refusal
	if n := fl.calls.get("once"); n != 1 {
		t.Errorf("the request ran %d times for %d copies, want once", n, copies)
	}
	dups := 0
	for _, o := range fl.out.list() {
		if o == "count "+domain.CodeDuplicate {
			dups++
		}
	}
	if dups != copies-1 {
		t.Errorf("outcomes %v: want %d duplicates", fl.out.list(), copies-1)
	}
}

func testClaimGivenBack(t *testing.T, f Factory, _ Features) {
	fl := &claimFleet{tr: f(t), group: "handback"}
	// hb, alone, takes a call that keeps it busy; then ha starts and takes
	// the request (both run before it is sent: a keyed server refuses what
	// was sent before it started).
	busy, release := make(chan struct{}, 1), make(chan struct{})
	b := claimServer(t, fl, "hb", func(ctx context.Context, args string) error {
		if args == "busy" {
			busy <- struct{}{}
			<-release
		}
		return nil
	})
	t.Cleanup(func() { _ = b.Stop(testkit.Context(t, wait)) })
	hold := signedBalanced(fl.group, "busy")
	hs := newSink()
	send(t, fl.tr, hold, hs)
	within(t, busy, "hb taking the blocker")

	started := make(chan struct{}, 1)
	a := claimServer(t, fl, "ha", func(ctx context.Context, args string) error {
		started <- struct{}{}
		<-ctx.Done() // stopped mid-job
		return ctx.Err()
	})
	req := signedBalanced(fl.group, "again")
	s := newSink()
	send(t, fl.tr, req, s)
	within(t, started, "ha taking the request")
	close(release)
	hs.result(t, hold.ID)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_ = a.Stop(ctx) // gives up on the handler: the request goes back
	r := s.result(t, req.ID)
	if !r.OK() || r.Server != "hb" || r.Result != "hb again" {
		t.Fatalf("result %+v; want hb to run the request ha gave back", r)
	}
	if n := fl.calls.get("again"); n != 2 {
		t.Errorf("the request ran %d times, want twice (ha stopped mid-job, then hb)", n)
	}
}

// waitUntil polls cond for up to wait.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(wait); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, wait)
		}
	}
}
