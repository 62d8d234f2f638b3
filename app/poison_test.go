package app_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// handlerSpy is a memory transport that keeps the handler its server
// serves with, so a test can hand it requests no transport would deliver.
type handlerSpy struct {
	*memory.Transport
	mu sync.Mutex
	h  ports.Handler
}

func (s *handlerSpy) Serve(ctx context.Context, ep ports.Endpoint, h ports.Handler) (ports.Subscription, error) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
	return s.Transport.Serve(ctx, ep, h)
}

func (s *handlerSpy) handler() ports.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// replyLog records what a handler sent.
type replyLog struct {
	mu      sync.Mutex
	replies []domain.Reply
}

func (l *replyLog) Reply(_ context.Context, r domain.Reply) error {
	l.mu.Lock()
	l.replies = append(l.replies, r)
	l.mu.Unlock()
	return nil
}

// result returns the one result among the replies; ok is false unless there
// is exactly one.
func (l *replyLog) result() (r domain.Reply, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.replies {
		if x.Kind == domain.KindResult {
			r, n = x, n+1
		}
	}
	return r, n == 1
}

// TestServerSurvivesMalformedRequests hands the server's handler, through
// the port, requests a transport might let through (bad names, invalid
// UTF-8, oversized args, stale or absurd deadlines, panicking handlers, …)
// and checks that each gets exactly one result with the expected code; then
// sends malformed requests through the memory transport, which refuses
// them; then checks the server still answers a normal call.
func TestServerSurvivesMalformedRequests(t *testing.T) {
	t.Parallel()
	const maxArgs = 4 << 10
	spy := &handlerSpy{Transport: testkit.MemoryTransport(t)}
	srv := app.NewServer(spy, app.ServerConfig{Name: "s1", MaxArgs: maxArgs, Concurrency: 4}, quiet)
	for name, h := range map[string]app.HandlerFunc{
		"boom":      func(context.Context, string) (string, error) { panic("kaboom") },
		"boomnil":   func(context.Context, string) (string, error) { panic(nil) },
		"boomerr":   func(context.Context, string) (string, error) { panic(errors.New("an error value")) },
		"boomindex": func(_ context.Context, a string) (string, error) { return string(a[len(a)+1]), nil },
		"picky":     func(context.Context, string) (string, error) { return "", fmt.Errorf("%w: no", app.ErrBadArgs) },
		"fails":     func(context.Context, string) (string, error) { return "", errors.New("disk full") },
	} {
		if err := srv.Handle(name, h); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Start(t, srv, 2*time.Second)
	h := spy.handler()

	now := time.Now()
	soon := now.Add(10 * time.Second)
	ok := ""
	tests := []struct {
		name     string
		req      domain.Request
		wantCode string // "" for an ok result
	}{
		{"unknown command", domain.Request{Command: domain.Command{Name: "nosuch"}}, domain.CodeUnknownCommand},
		{"unknown command, case differs", domain.Request{Command: domain.Command{Name: "ECHO"}}, domain.CodeUnknownCommand},
		{"reply-shaped command", domain.Request{Command: domain.Command{Name: "result", Args: "x"}}, domain.CodeUnknownCommand},
		{"empty command name", domain.Request{Command: domain.Command{Args: "x"}}, domain.CodeBadRequest},
		{"name starts with a digit", domain.Request{Command: domain.Command{Name: "1echo"}}, domain.CodeBadRequest},
		{"name with a space", domain.Request{Command: domain.Command{Name: "rm -rf"}}, domain.CodeBadRequest},
		{"name with a slash", domain.Request{Command: domain.Command{Name: "a/b"}}, domain.CodeBadRequest},
		{"name with NUL", domain.Request{Command: domain.Command{Name: "echo\x00"}}, domain.CodeBadRequest},
		{"name not ASCII", domain.Request{Command: domain.Command{Name: "écho"}}, domain.CodeBadRequest},
		{"name invalid UTF-8", domain.Request{Command: domain.Command{Name: "\xff\xfe"}}, domain.CodeBadRequest},
		{"name 65 bytes", domain.Request{Command: domain.Command{Name: strings.Repeat("e", 65)}}, domain.CodeBadRequest},
		{"name 1 MiB", domain.Request{Command: domain.Command{Name: strings.Repeat("e", 1<<20)}}, domain.CodeBadRequest},
		{"args invalid UTF-8", domain.Request{Command: domain.Command{Name: "echo", Args: "\xff\xfe"}}, domain.CodeBadRequest},
		{"args cut mid-rune", domain.Request{Command: domain.Command{Name: "echo", Args: "price: \xe2\x82"}}, domain.CodeBadRequest},
		{"args with a surrogate", domain.Request{Command: domain.Command{Name: "echo", Args: "\xed\xa0\x80"}}, domain.CodeBadRequest},
		{"args one byte over the limit", domain.Request{Command: domain.Command{Name: "echo", Args: strings.Repeat("a", maxArgs+1)}}, domain.CodeBadArgs},
		{"args far over the limit", domain.Request{Command: domain.Command{Name: "echo", Args: strings.Repeat("a", 1<<20)}}, domain.CodeBadArgs},
		{"args at the limit", domain.Request{Command: domain.Command{Name: "echo", Args: strings.Repeat("a", maxArgs)}}, ok},
		{"args over the limit, unknown command", domain.Request{Command: domain.Command{Name: "nosuch", Args: strings.Repeat("a", maxArgs+1)}}, domain.CodeBadArgs},
		{"args with NUL and controls", domain.Request{Command: domain.Command{Name: "echo", Args: "a\x00b\x1b[2Jc"}}, ok},
		{"fib without args", domain.Request{Command: domain.Command{Name: "fib"}}, domain.CodeBadArgs},
		{"fib of a word", domain.Request{Command: domain.Command{Name: "fib", Args: "thirty"}}, domain.CodeBadArgs},
		{"fib of a negative", domain.Request{Command: domain.Command{Name: "fib", Args: "-1"}}, domain.CodeBadArgs},
		{"fib over the bound", domain.Request{Command: domain.Command{Name: "fib", Args: "94"}}, domain.CodeBadArgs},
		{"fib of a float", domain.Request{Command: domain.Command{Name: "fib", Args: "1e3"}}, domain.CodeBadArgs},
		{"fib of a huge number", domain.Request{Command: domain.Command{Name: "fib", Args: "99999999999999999999999"}}, domain.CodeBadArgs},
		{"fib of NUL", domain.Request{Command: domain.Command{Name: "fib", Args: "\x00"}}, domain.CodeBadArgs},
		{"fib with spaces", domain.Request{Command: domain.Command{Name: "fib", Args: " 30 "}}, ok},
		{"sleep forever", domain.Request{Command: domain.Command{Name: "sleep", Args: "forever"}}, domain.CodeBadArgs},
		{"sleep negative", domain.Request{Command: domain.Command{Name: "sleep", Args: "-1s"}}, domain.CodeBadArgs},
		{"sleep over the bound", domain.Request{Command: domain.Command{Name: "sleep", Args: "11m"}}, domain.CodeBadArgs},
		{"sleep NaN", domain.Request{Command: domain.Command{Name: "sleep", Args: "NaN"}}, domain.CodeBadArgs},
		{"sleep infinity", domain.Request{Command: domain.Command{Name: "sleep", Args: "1e309"}}, domain.CodeBadArgs},
		{"sleep past the deadline", domain.Request{Command: domain.Command{Name: "sleep", Args: "5s"}, Deadline: now.Add(50 * time.Millisecond)}, domain.CodeDeadline},
		{"expired an hour ago", domain.Request{Command: domain.Command{Name: "echo"}, Deadline: now.Add(-time.Hour)}, domain.CodeExpired},
		{"expired a millisecond ago", domain.Request{Command: domain.Command{Name: "echo"}, Deadline: now.Add(-time.Millisecond)}, domain.CodeExpired},
		{"deadline at the epoch", domain.Request{Command: domain.Command{Name: "echo"}, Deadline: time.UnixMilli(0)}, domain.CodeExpired},
		{"deadline before the epoch", domain.Request{Command: domain.Command{Name: "echo"}, Deadline: time.UnixMilli(math.MinInt64)}, domain.CodeExpired},
		{"expired, unknown command", domain.Request{Command: domain.Command{Name: "nosuch"}, Deadline: now.Add(-time.Second)}, domain.CodeExpired},
		{"deadline at the end of time", domain.Request{Command: domain.Command{Name: "echo", Args: "x"}, Deadline: time.UnixMilli(math.MaxInt64)}, ok},
		{"sent in the future", domain.Request{Command: domain.Command{Name: "echo"}, Sent: now.Add(time.Hour)}, ok},
		{"no deadline", domain.Request{Command: domain.Command{Name: "echo", Args: "x"}}, ok},
		{"no ID", domain.Request{ID: "", Command: domain.Command{Name: "echo"}}, ok},
		{"ID 1 MiB", domain.Request{ID: strings.Repeat("i", 1<<20), Command: domain.Command{Name: "echo"}}, ok},
		{"empty target", domain.Request{Target: "", Command: domain.Command{Name: "echo"}}, ok},
		{"target invalid UTF-8", domain.Request{Target: "\xff.\xfe", Command: domain.Command{Name: "echo"}}, ok},
		{"target 1 KiB", domain.Request{Target: strings.Repeat("t", 1024), Command: domain.Command{Name: "echo"}}, ok},
		{"balanced to a plain server", domain.Request{Command: domain.Command{Name: "echo"}, Balanced: true}, ok},
		{"panicking handler", domain.Request{Command: domain.Command{Name: "boom"}}, domain.CodePanic},
		{"handler panicking with nil", domain.Request{Command: domain.Command{Name: "boomnil"}}, domain.CodePanic},
		{"handler panicking with an error", domain.Request{Command: domain.Command{Name: "boomerr"}}, domain.CodePanic},
		{"handler indexing out of range", domain.Request{Command: domain.Command{Name: "boomindex", Args: "x"}}, domain.CodePanic},
		{"handler rejecting its args", domain.Request{Command: domain.Command{Name: "picky"}}, domain.CodeBadArgs},
		{"handler failing", domain.Request{Command: domain.Command{Name: "fails"}}, domain.CodeFailed},
	}
	tried, handled := 0, 0
	for i, tc := range tests {
		req := tc.req
		if req.ID == "" && tc.name != "no ID" {
			req.ID = fmt.Sprintf("junk-%d", i)
		}
		if req.Target == "" && tc.name != "empty target" {
			req.Target = "s1"
		}
		if req.Deadline.IsZero() && tc.name != "no deadline" {
			req.Deadline = soon
		}
		if tc.name == "sleep past the deadline" {
			// From now, not from when the table was built: on a loaded
			// machine (-race in CI) the rows before can take longer than
			// 50 ms, and the request would arrive expired.
			req.Deadline = time.Now().Add(50 * time.Millisecond)
		}
		var rw replyLog
		done := make(chan struct{})
		go func() { defer close(done); h(t.Context(), &req, &rw) }()
		tried++
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the handler did not return", tc.name)
		}
		r, one := rw.result()
		switch {
		case !one:
			t.Errorf("%s: want exactly one result, got %+v", tc.name, rw.replies)
		case r.Code != tc.wantCode:
			t.Errorf("%s: code %q (%s), want %q", tc.name, r.Code, r.Error, tc.wantCode)
		case tc.wantCode != "" && r.Error == "":
			t.Errorf("%s: error reply without a message", tc.name)
		case r.Server != "s1":
			t.Errorf("%s: reply from %q", tc.name, r.Server)
		default:
			handled++
		}
	}

	// Through the port: the transport refuses what no server could answer,
	// and drops expired requests unseen.
	anyErr := errors.New("any error")
	sends := []struct {
		name    string
		req     domain.Request
		wantErr error // nil: accepted
	}{
		{"no ID", domain.Request{Target: "s1", Command: domain.Command{Name: "echo"}}, anyErr},
		{"bad command name", domain.Request{ID: "p2", Target: "s1", Command: domain.Command{Name: "rm -rf /"}}, domain.ErrBadCommand},
		{"empty command name", domain.Request{ID: "p3", Target: "s1"}, domain.ErrBadCommand},
		{"args invalid UTF-8", domain.Request{ID: "p4", Target: "s1", Command: domain.Command{Name: "echo", Args: "\xff"}}, domain.ErrBadCommand},
		{"target over 255 bytes", domain.Request{ID: "p5", Target: strings.Repeat("k", 256), Command: domain.Command{Name: "echo"}}, domain.ErrBadKey},
		{"target nothing is bound to", domain.Request{ID: "p6", Target: "nobody", Command: domain.Command{Name: "echo"}}, ports.ErrNoRoute},
		{"balanced to a group without work queue", domain.Request{ID: "p7", Target: "nogroup", Command: domain.Command{Name: "echo"}, Balanced: true}, ports.ErrNoRoute},
		{"expired", domain.Request{ID: "p8", Target: "s1", Command: domain.Command{Name: "echo"}, Deadline: now.Add(-time.Second)}, nil},
	}
	for _, tc := range sends {
		sink := &replySink{}
		err := spy.Send(t.Context(), &tc.req, sink)
		tried++
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("Send %s: %v", tc.name, err)
		case tc.wantErr == anyErr && err == nil:
			t.Errorf("Send %s: accepted", tc.name)
		case tc.wantErr != nil && tc.wantErr != anyErr && !errors.Is(err, tc.wantErr):
			t.Errorf("Send %s: %v, want %v", tc.name, err, tc.wantErr)
		case tc.name == "expired" && sink.wait(50*time.Millisecond) != 0:
			t.Errorf("Send %s: the expired request was answered", tc.name)
		default:
			handled++
		}
		spy.Forget(tc.req.ID)
	}

	c := app.NewClient(spy, app.ClientConfig{}, quiet)
	sum, outs, err := c.Do(t.Context(), "s1", domain.Command{Name: "echo", Args: "still here"})
	if err != nil || sum.OK != 1 || len(outs) != 1 || outs[0].Reply.Result != "still here" {
		t.Fatalf("the server no longer answers: %v %+v %+v", err, sum, outs)
	}
	if _, err := c.Call(t.Context(), "s1", domain.Command{Name: "echo", Args: strings.Repeat("a", app.DefaultMaxArgs+1)}); !errors.Is(err, domain.ErrBadCommand) {
		t.Errorf("a call with args over ClientConfig.MaxArgs: %v, want an error wrapping domain.ErrBadCommand", err)
	}
	t.Logf("%d inputs tried, %d handled, server alive", tried, handled)
	if tried < 40 || handled != tried {
		t.Errorf("%d inputs tried, %d handled", tried, handled)
	}
}

// replySink collects replies sent through the transport.
type replySink struct {
	mu      sync.Mutex
	replies []domain.Reply
}

func (s *replySink) Deliver(r domain.Reply) {
	s.mu.Lock()
	s.replies = append(s.replies, r)
	s.mu.Unlock()
}

// wait returns how many replies arrived within d.
func (s *replySink) wait(d time.Duration) int {
	time.Sleep(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.replies)
}
