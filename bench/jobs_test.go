package bench_test

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// BenchmarkRPCStore is BenchmarkRPC's topicrpc side with and without the
// results store, in the same round: impl=plain is a call not kept
// (ClientConfig.Record false), impl=recorded one kept as a job — the
// client stores the call's record while the call runs, the server its
// result after sending it (each a confirmed write to the results stream).
func BenchmarkRPCStore(b *testing.B) {
	br := needBroker(b)
	br.Management(b)
	plainNS, recNS := namespace(b, br, "rpc-plain"), namespace(b, br, "rpc-recorded")
	startFleet(b, plainNS, []app.ServerConfig{{Name: "s1", Concurrency: 64}})
	startFleet(b, recNS, []app.ServerConfig{{Name: "s1", Concurrency: 64}})
	plain := callOp(newClient(b, plainNS, app.ClientConfig{}, fastRoutes(plainNS)), "s1", 1)
	recorded := callOp(newClient(b, recNS, app.ClientConfig{Record: true}, fastRoutes(recNS)), "s1", 1)
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			sides(b,
				side{"plain", func(b *testing.B) { runLoad(b, inflight, latencies, plain) }},
				side{"recorded", func(b *testing.B) { runLoad(b, inflight, latencies, recorded) }})
		})
	}
}

// BenchmarkMemoryRPCStore is BenchmarkMemoryRPC's topicrpc side with and
// without the in-memory results store.
func BenchmarkMemoryRPCStore(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			run := func(record bool) func(*testing.B) {
				return func(b *testing.B) {
					tr := testkit.MemoryTransport(b)
					testkit.Start(b, app.NewFleet(tr, []app.ServerConfig{{Name: "s000", Concurrency: inflight}}, quiet), 0)
					c := app.NewClient(tr, app.ClientConfig{Timeout: callTimeout, Record: record}, quiet)
					runLoad(b, inflight, 0, callOp(c, "s000", 1))
				}
			}
			sides(b, side{"plain", run(false)}, side{"recorded", run(true)})
		})
	}
}

// storedReplies is how many replies the jobs benchmarks store first.
const storedReplies = 100_000

// fillJobs stores the records of n/2 jobs as a recorded call to two
// servers leaves them: the caller's record, then each server's result
// (n replies in all), the jobs a millisecond apart by their sending time,
// 32 jobs at a time.
func fillJobs(b *testing.B, store ports.JobStore, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Duration(n) * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		first = cmp.Or(first, err)
		mu.Unlock()
	}
	sem := make(chan struct{}, 32)
	for i := range n / 2 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sent := start.Add(time.Duration(i) * 2 * time.Millisecond)
			req := &domain.Request{ID: "bench-" + strconv.Itoa(i), Target: "all", Command: echo, Sent: sent, Deadline: sent.Add(10 * time.Second)}
			call := domain.JobRecord{Kind: domain.RecordCall, CallID: req.ID, At: sent, Sent: sent, Deadline: req.Deadline,
				Target: req.Target, Command: req.Command, Expected: []string{"s0", "s1"}, Known: true}
			if err := store.StoreJob(ctx, call); err != nil {
				fail(err)
				return
			}
			var replies sync.WaitGroup
			for s := range 2 {
				replies.Go(func() {
					r := domain.Reply{CallID: req.ID, Server: "s" + strconv.Itoa(s), Kind: domain.KindResult, Result: "hello"}
					if err := store.StoreJob(ctx, domain.ReplyRecord(req, r, sent.Add(time.Millisecond))); err != nil {
						fail(err)
					}
				})
			}
			replies.Wait()
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// listOp lists the newest jobs as f chooses and checks there are want,
// the newest with its two servers ok: what topicrpc jobs does.
func listOp(jobs *app.Jobs, f app.JobFilter, want int) func() error {
	return func() error {
		list, err := jobs.List(context.Background(), f)
		if err != nil {
			return err
		}
		if len(list) != want || list[0].Counts[domain.StateOK] != 2 || list[0].ID != "bench-"+strconv.Itoa(storedReplies/2-1) {
			return fmt.Errorf("jobs: %d listed, the newest %+v", len(list), list[0])
		}
		return nil
	}
}

// BenchmarkJobsList is topicrpc jobs over 100,000 stored replies (50,000
// jobs of two servers each), on RabbitMQ (store=amqp: the stream) and in
// memory: read=newest lists the newest 20 (jobs' default: the store read
// back from its end), read=job reads the newest job (job ID), read=whole
// lists all 50,000 (jobs --limit 0: the whole store read). The target is
// under a second on this machine for the first.
func BenchmarkJobsList(b *testing.B) {
	// Filled once: the sub-benchmarks run again with a larger b.N.
	br := needBroker(b)
	ns := namespace(b, br, "jobs-list")
	onBroker := ns.Transport(b, named(ns))
	fillJobs(b, onBroker, storedReplies)
	inMemory := testkit.MemoryTransport(b)
	fillJobs(b, inMemory, storedReplies)
	for _, r := range []struct {
		name string
		op   func(*app.Jobs) func() error
	}{
		{"newest", func(j *app.Jobs) func() error { return listOp(j, app.JobFilter{Limit: 20}, 20) }},
		{"job", lookupOp},
		{"whole", func(j *app.Jobs) func() error { return listOp(j, app.JobFilter{}, storedReplies/2) }},
	} {
		b.Run("store=amqp/read="+r.name, func(b *testing.B) {
			runLoad(b, 1, brokerCPU, r.op(app.NewJobs(onBroker, app.JobsConfig{}, quiet)))
		})
		b.Run("store=memory/read="+r.name, func(b *testing.B) {
			runLoad(b, 1, 0, r.op(app.NewJobs(inMemory, app.JobsConfig{}, quiet)))
		})
	}
}

// lookupOp reads the newest job by its id and checks both servers are ok:
// what topicrpc job ID does.
func lookupOp(jobs *app.Jobs) func() error {
	id := "bench-" + strconv.Itoa(storedReplies/2-1)
	return func() error {
		job, err := jobs.Lookup(context.Background(), id)
		if err != nil {
			return err
		}
		if v := jobs.View(job, time.Time{}); !job.Recorded || v.Summary.OK != 2 {
			return fmt.Errorf("job %s: recorded %v, %+v", id, job.Recorded, v.Summary)
		}
		return nil
	}
}
