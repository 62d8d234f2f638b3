package integration_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// workLog records which worker started which request.
type workLog struct {
	mu      sync.Mutex
	started map[string][]string // call ID → workers, in order
	jobs    map[string]int      // worker → requests started
}

// start records that worker started id and returns how many it has started.
func (l *workLog) start(worker, id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started[id] = append(l.started[id], worker)
	l.jobs[worker]++
	return l.jobs[worker]
}

// TestWorkQueueSurvivesAWorkerDying runs 100 balanced requests on three
// workers of one group, each on its own connection, and kills one worker's
// connection while its handler is blocked on a long job: RabbitMQ requeues
// the unacknowledged request, another worker runs it, and every request is
// answered exactly once, by a worker that was alive to answer it.
func TestWorkQueueSurvivesAWorkerDying(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	ns := namespace(t, b)
	const (
		n      = 100
		group  = "jobs"
		victim = "w3"
	)
	runs := &workLog{started: map[string][]string{}, jobs: map[string]int{}}
	held := make(chan string, 1)     // the victim's long job
	release := make(chan struct{})   // ends it, once the others are checked
	lateReply := make(chan error, 1) // what the victim's reply came to
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	workers := map[string]*amqp.Transport{}
	for _, name := range []string{"w1", "w2", victim} {
		tr := ns.Transport(t)
		workers[name] = tr
		h := func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			if k := runs.start(name, req.ID); name == victim && k == 3 {
				held <- req.ID
				<-release // a long job that ignores its context
				lateReply <- rw.Reply(context.WithoutCancel(ctx), domain.Reply{Server: name, Kind: domain.KindResult, Result: "too late"})
				return
			}
			time.Sleep(time.Millisecond) // a short job
			_ = rw.Reply(ctx, domain.Reply{Server: name, Kind: domain.KindResult, Result: req.Command.Args})
		}
		ep := ports.Endpoint{Name: name, Bindings: []string{name}, WorkGroups: []string{group}}
		if _, err := tr.Serve(t.Context(), ep, h); err != nil {
			t.Fatal(err)
		}
	}

	client := ns.Transport(t)
	replies := testkit.NewReplies(4 * n)
	ids := make([]string, n)
	sent := make(chan error, n)
	begin := time.Now()
	for i := range n {
		now := time.Now()
		req := &domain.Request{
			ID:      fmt.Sprintf("work-%d-%d", now.UnixNano(), i),
			Target:  group,
			Command: domain.Command{Name: "job", Args: fmt.Sprint(i)},
			Sent:    now, Deadline: now.Add(time.Minute),
			Balanced: true,
		}
		ids[i] = req.ID
		go func() { sent <- client.Send(t.Context(), req, replies) }()
	}

	var heldID string
	select {
	case heldID = <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the victim never took its third job")
	}
	killed := time.Now()
	if err := workers[victim].Close(); err != nil {
		t.Fatalf("close the victim's connection: %v", err)
	}
	for range n {
		if err := <-sent; err != nil {
			t.Errorf("send: %v", err)
		}
	}

	results := map[string][]domain.Reply{}
	timeout := time.After(30 * time.Second)
	for len(results) < n {
		select {
		case r := <-replies.C():
			if r.Kind == domain.KindResult {
				results[r.CallID] = append(results[r.CallID], r)
			}
		case <-timeout:
			t.Fatalf("%d of %d requests answered within 30s; lost: %v", len(results), n, missing(ids, results))
		}
	}
	elapsed := time.Since(begin)
	// Duplicates would arrive within moments of the last result.
	extra := time.After(300 * time.Millisecond)
drain:
	for {
		select {
		case r := <-replies.C():
			if r.Kind == domain.KindResult {
				results[r.CallID] = append(results[r.CallID], r)
			}
		case <-extra:
			break drain
		}
	}

	runs.mu.Lock()
	defer runs.mu.Unlock()
	for _, id := range ids {
		rs := results[id]
		if len(rs) != 1 || !rs[0].OK() {
			t.Errorf("request %s: results %+v, want exactly one ok result", id, rs)
			continue
		}
		starts := runs.started[id]
		if id == heldID {
			if len(starts) != 2 || starts[0] != victim || starts[1] == victim || rs[0].Server != starts[1] {
				t.Errorf("the killed worker's job: started by %v, answered by %s; want it redone by a live worker", starts, rs[0].Server)
			}
			continue
		}
		if len(starts) != 1 || rs[0].Server != starts[0] {
			t.Errorf("request %s started by %v, answered by %s; want one run", id, starts, rs[0].Server)
		}
	}
	releaseOnce()
	select {
	case err := <-lateReply:
		if err == nil {
			t.Error("the killed worker's late reply was sent")
		}
	case <-time.After(5 * time.Second):
		t.Error("the killed worker's handler did not finish")
	}
	t.Logf("%d balanced requests on 3 workers in %v, one killed mid-job after %v; jobs per worker %v",
		n, elapsed.Round(time.Millisecond), killed.Sub(begin).Round(time.Millisecond), runs.jobs)
}

// missing returns the ids without a result.
func missing(ids []string, results map[string][]domain.Reply) []string {
	var out []string
	for _, id := range ids {
		if len(results[id]) == 0 {
			out = append(out, id)
		}
	}
	return out
}
