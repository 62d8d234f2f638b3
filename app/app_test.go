package app_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

var quiet = slog.New(slog.DiscardHandler)

// fleet starts the classic fleet (q1 in group1, q2 in group2, both in all) on
// a fresh memory transport and returns a client on it.
func fleet(t *testing.T, cfg app.ClientConfig) (*app.Client, *app.Fleet) {
	t.Helper()
	tr := testkit.MemoryTransport(t)
	f := app.NewFleet(tr, []app.ServerConfig{
		{Name: "q1", Bindings: []string{"group1.#"}},
		{Name: "q2", Bindings: []string{"group2.#"}},
	}, quiet)
	if err := f.Handle("boom", func(context.Context, string) (string, error) { panic("kaboom") }); err != nil {
		t.Fatal(err)
	}
	// Handlers still sleeping for a cancelled call get a second, then their
	// context is cancelled.
	testkit.Start(t, f, time.Second)
	return app.NewClient(tr, cfg, quiet), f
}

func do(t *testing.T, c *app.Client, target, cmd string) (domain.Summary, map[string]domain.Outcome) {
	t.Helper()
	command, err := domain.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	sum, outs, err := c.Do(t.Context(), target, command)
	if err != nil {
		t.Fatalf("call %s %s: %v", target, cmd, err)
	}
	m := map[string]domain.Outcome{}
	for _, o := range outs {
		m[o.Server] = o
	}
	return sum, m
}

// doWithin calls target with cmd, the call's context ending after d.
func doWithin(t *testing.T, c *app.Client, d time.Duration, target string, cmd domain.Command) (domain.Summary, []domain.Outcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	sum, outs, err := c.Do(ctx, target, cmd)
	if err != nil {
		t.Fatalf("call %s %s: %v", target, cmd, err)
	}
	return sum, outs
}

// TestClassicSession runs the classic session on the memory transport, in a
// synctest bubble: a call that ends as soon as everyone answered takes no
// time on the bubble's clock, however slow the machine.
func TestClassicSession(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testClassicSession)
}

func testClassicSession(t *testing.T) {
	c, _ := fleet(t, app.ClientConfig{Timeout: 5 * time.Second})
	tests := []struct {
		target, cmd string
		want        map[string]string
	}{
		{"group1", "echo|hello group1 !", map[string]string{"q1": "hello group1 !"}},
		{"group2", "echo|hello group2 !", map[string]string{"q2": "hello group2 !"}},
		{"all", "fib|30", map[string]string{"q1": "832040", "q2": "832040"}},
		{"q2", "fib 0", map[string]string{"q2": "0"}},
		{"q1.extra.words", "fib|1", map[string]string{"q1": "1"}},
	}
	for _, tc := range tests {
		sum, outs := do(t, c, tc.target, tc.cmd)
		if sum.Reason != domain.DoneAllReplied || sum.Expected != len(tc.want) || sum.OK != len(tc.want) {
			t.Errorf("%s %s: summary %+v", tc.target, tc.cmd, sum)
		}
		if sum.Elapsed != 0 {
			t.Errorf("%s %s: took %s; it should end as soon as everyone answered", tc.target, tc.cmd, sum.Elapsed)
		}
		for server, result := range tc.want {
			if o := outs[server]; o.State != domain.StateOK || o.Reply.Result != result {
				t.Errorf("%s %s: %s = %+v, want ok %q", tc.target, tc.cmd, server, o, result)
			}
		}
		if len(outs) != len(tc.want) {
			t.Errorf("%s %s: outcomes %v", tc.target, tc.cmd, outs)
		}
	}
}

func TestErrorReplies(t *testing.T) {
	t.Parallel()
	c, _ := fleet(t, app.ClientConfig{Timeout: 5 * time.Second})
	tests := []struct {
		cmd, code, msg string
	}{
		{"nope|x", domain.CodeUnknownCommand, `unknown command "nope"; this server has: boom, echo, fib, ping, sleep`},
		{"fib|-1", domain.CodeBadArgs, "negative"},
		{"fib|x", domain.CodeBadArgs, "whole number"},
		{"fib|94", domain.CodeBadArgs, "too large"},
		{"sleep|forever", domain.CodeBadArgs, "duration"},
		{"sleep|11m", domain.CodeBadArgs, "out of range"},
		{"boom", domain.CodePanic, "kaboom"},
	}
	for _, tc := range tests {
		sum, outs := do(t, c, "q1", tc.cmd)
		o := outs["q1"]
		if o.State != domain.StateError || o.Reply.Code != tc.code || !strings.Contains(o.Reply.Error, tc.msg) {
			t.Errorf("%s: outcome %+v, want error %s containing %q", tc.cmd, o.Reply, tc.code, tc.msg)
		}
		if sum.Failed != 1 || sum.FailedServers[0] != "q1" {
			t.Errorf("%s: summary %+v", tc.cmd, sum)
		}
	}
	// The server survived all of that.
	if _, outs := do(t, c, "q1", "echo|still here"); outs["q1"].Reply.Result != "still here" {
		t.Fatalf("server stopped answering: %+v", outs["q1"])
	}
}

// TestDeadlineReachesHandler: the caller's deadline ends each handler's
// context (with DeadlineExceeded, at that instant), and the call ends then
// too, each server timed out: it acknowledged the request and had no result.
// In a synctest bubble, so that its clock is the test's: no machine is too
// slow for the acks to come before the deadline.
func TestDeadlineReachesHandler(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := fleet(t, app.ClientConfig{})
		type end struct {
			deadline time.Time
			err      error
		}
		ended := make(chan end, 2)
		release := make(chan struct{})
		t.Cleanup(func() { close(release) }) // before the fleet stops
		// hold reports its context's end, and returns only after the call is
		// over: no result of its own can race the caller's clock.
		if err := f.Handle("hold", func(ctx context.Context, _ string) (string, error) {
			<-ctx.Done()
			d, _ := ctx.Deadline()
			ended <- end{d, ctx.Err()}
			<-release
			return "", ctx.Err()
		}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		deadline, _ := ctx.Deadline()
		sum, outs, err := c.Do(ctx, "all", domain.Command{Name: "hold"})
		if err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); !now.Equal(deadline) {
			t.Errorf("the call ended %v after its deadline", now.Sub(deadline))
		}
		if sum.Reason != domain.DoneDeadline || sum.TimedOut != 2 || sum.NotReceived != 0 || sum.Silent != 2 ||
			sum.OK != 0 || sum.Failed != 0 || sum.Elapsed != 150*time.Millisecond {
			t.Fatalf("summary %+v, want both timed out at the deadline", sum)
		}
		for _, o := range outs {
			if o.State != domain.StateTimedOut {
				t.Errorf("%s: %v, want timed out", o.Server, o.State)
			}
		}
		synctest.Wait() // the handlers have seen their context end, at this instant
		for range 2 {
			select {
			case e := <-ended:
				if !errors.Is(e.err, context.DeadlineExceeded) || !e.deadline.Equal(deadline) {
					t.Errorf("handler context ended with %v, deadline %v; want DeadlineExceeded at the call's %v",
						e.err, e.deadline, deadline)
				}
			default:
				t.Fatal("a handler's context had not ended at the deadline")
			}
		}
	})
	// The built-in sleep returns at the deadline with its own "deadline"
	// error, racing the caller's clock: either way the server timed out.
	synctest.Test(t, func(t *testing.T) {
		c, _ := fleet(t, app.ClientConfig{})
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		sum, outs, err := c.Do(ctx, "all", domain.Command{Name: "sleep", Args: "5s"})
		if err != nil {
			t.Fatal(err)
		}
		if sum.TimedOut != 2 || sum.Silent != 2 || sum.OK != 0 || sum.Failed != 0 {
			t.Fatalf("summary %+v, want both timed out", sum)
		}
		for _, o := range outs {
			if o.State != domain.StateTimedOut {
				t.Errorf("%s: %v, want timed out", o.Server, o.State)
			}
		}
	})
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	c, _ := fleet(t, app.ClientConfig{})
	_, err := c.Call(t.Context(), "group9", domain.Command{Name: "echo"})
	if !errors.Is(err, ports.ErrNoRoute) || !strings.Contains(err.Error(), "no server matched group9") {
		t.Errorf("unmatched target: %v", err)
	}
	_, err = c.Call(t.Context(), "", domain.Command{Name: "echo"})
	if !errors.Is(err, app.ErrBadTarget) {
		t.Errorf("empty target: %v", err)
	}
	_, err = c.Call(t.Context(), strings.Repeat("k", 256), domain.Command{Name: "echo"})
	if !errors.Is(err, domain.ErrBadKey) {
		t.Errorf("long target: %v", err)
	}
	_, err = c.Call(t.Context(), "all", domain.Command{Name: "9x"})
	if !errors.Is(err, domain.ErrBadCommand) {
		t.Errorf("bad command: %v", err)
	}
}

func TestCancelEndsCall(t *testing.T) {
	t.Parallel()
	c, _ := fleet(t, app.ClientConfig{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	call, err := c.Call(ctx, "q1", domain.Command{Name: "sleep", Args: "1m"})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, ok := call.Next(); ok {
		t.Fatal("a result after cancel")
	}
	if s := call.Summary(); s.Reason != domain.DoneCancelled || s.Silent != 1 {
		t.Fatalf("summary %+v", s)
	}
}
