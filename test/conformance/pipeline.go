package conformance

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// The server's request pipeline (app/pipeline.go) is the same on every
// transport: transports deliver, and app.Server alone recovers panics,
// expires requests and ends handlers at their deadline. These cases pin it
// through each transport, with the exact replies the pipeline's code makes.

// outcomes is a middleware recording each request's command and outcome.
type outcomes struct {
	mu  sync.Mutex
	got []string // "command code"
}

func (o *outcomes) middleware(next app.Step) app.Step {
	return func(ctx context.Context, in app.Inbound) domain.Reply {
		r := next(ctx, in)
		o.mu.Lock()
		o.got = append(o.got, in.Request.Command.Name+" "+r.Code)
		o.mu.Unlock()
		return r
	}
}

func (o *outcomes) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// pipelineServer starts an app.Server named name on tr with cfg (its name,
// middleware and a quiet log set), stopped at the end of the test.
func pipelineServer(t *testing.T, tr ports.Transport, name string, cfg app.ServerConfig, o *outcomes) *app.Server {
	t.Helper()
	cfg.Name = name
	cfg.Middleware = append(cfg.Middleware, o.middleware)
	s := app.NewServer(tr, cfg, quiet)
	testkit.Start(t, s, wait)
	return s
}

// result returns the result of the request sent to s, skipping acks and
// progress.
func (s *sink) result(t *testing.T, id string) domain.Reply {
	t.Helper()
	for {
		r := s.next(t)
		if r.CallID == id && r.Kind == domain.KindResult {
			return r
		}
	}
}

func testPipelinePanic(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var o outcomes
	srv := pipelineServer(t, tr, "p1", app.ServerConfig{}, &o)
	if err := srv.Handle("boom", func(context.Context, string) (string, error) { panic("kaboom") }); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	boom := request("p1", "boom", "")
	send(t, tr, boom, s)
	r := s.result(t, boom.ID)
	if r.Code != domain.CodePanic || r.Error != "handler panicked: boom: kaboom" || r.Server != "p1" {
		t.Errorf("reply to a panicking handler = %+v, want code %s, error %q from p1",
			r, domain.CodePanic, "handler panicked: boom: kaboom")
	}
	// The server keeps serving.
	after := request("p1", "echo", "still here")
	send(t, tr, after, s)
	if r := s.result(t, after.ID); !r.OK() || r.Result != "still here" {
		t.Errorf("reply after the panic = %+v", r)
	}
	if got, want := o.list(), []string{"boom " + domain.CodePanic, "echo "}; !slices.Equal(got, want) {
		t.Errorf("middleware saw %q, want %q", got, want)
	}
}

// testPipelineExpired: a request the transport delivers past its deadline by
// the server's clock (here the server's clock runs an hour ahead of the
// caller's, so no queue expires it) is answered expired by the server's
// pipeline, with no ack, and its handler never runs.
func testPipelineExpired(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var o outcomes
	var ran counter
	srv := pipelineServer(t, tr, "p2", app.ServerConfig{
		Clock:    func() time.Time { return time.Now().Add(time.Hour) },
		AckDelay: app.AckAtOnce, // an ack, were the request admitted, would come first
	}, &o)
	if err := srv.Handle("count", func(_ context.Context, args string) (string, error) {
		ran.add(args)
		return args, nil
	}); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	req := request("p2", "count", "late")
	send(t, tr, req, s)
	r := s.next(t)
	if r.CallID != req.ID || r.Kind != domain.KindResult || r.Code != domain.CodeExpired || r.Server != "p2" {
		t.Fatalf("first reply = %+v, want an expired result from p2 (and no ack before it)", r)
	}
	if !strings.HasPrefix(r.Error, "request expired ") || !strings.HasSuffix(r.Error, " before p2 took it") {
		t.Errorf("expired error = %q", r.Error)
	}
	if ran.get("late") != 0 {
		t.Error("the handler ran an expired request")
	}
	if got, want := o.list(), []string{"count " + domain.CodeExpired}; !slices.Equal(got, want) {
		t.Errorf("middleware saw %q, want %q", got, want)
	}
}

// testPipelineDeadline: the handler's context ends at the request's deadline
// on every transport, and the result says so.
func testPipelineDeadline(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var o outcomes
	srv := pipelineServer(t, tr, "p3", app.ServerConfig{}, &o)
	if err := srv.Handle("wait", func(ctx context.Context, _ string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	req := request("p3", "wait", "")
	req.Deadline = time.Now().Add(300 * time.Millisecond)
	send(t, tr, req, s)
	var kinds []domain.ReplyKind
	for {
		r := s.next(t)
		kinds = append(kinds, r.Kind)
		if r.Kind != domain.KindResult {
			continue
		}
		if r.Code != domain.CodeDeadline || r.Error != context.DeadlineExceeded.Error() {
			t.Errorf("result = %+v, want code %s", r, domain.CodeDeadline)
		}
		break
	}
	// Still running after the ack delay: acknowledged before the result.
	if len(kinds) < 2 || kinds[0] != domain.KindAck {
		t.Errorf("replies %v, want an ack first, then the result", kinds)
	}
}
