package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// testJobsListNewest: with a limit, jobs reads the store back from its
// end a stretch at a time (app.Jobs.List), and lists exactly what a read
// of the whole store lists first: the same jobs, with the same counts,
// for small and large limits, a target most jobs miss, and a since.
//
// The store holds 150 jobs as recorded calls leave them: each caller's
// record first, then one to six servers' replies, stored one at a time
// (on RabbitMQ, a message each) and two jobs behind (the replies of job
// i come after the records of jobs i+1 and i+2; job 0's, a long job's,
// come last), every tenth job sent to "rare" and every seventh with a
// server failed.
func testJobsListNewest(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	store := jobsOf(t, tr, feat)
	ctx := t.Context()
	const n = 150
	base := time.Now().Add(-time.Hour)
	reqs := make([]*domain.Request, n)
	store1 := func(rec domain.JobRecord) {
		t.Helper()
		if err := store.StoreJob(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	replies := func(i int) {
		req := reqs[i]
		for s := range 1 + i%6 {
			r := domain.Reply{CallID: req.ID, Server: "s" + strconv.Itoa(s), Kind: domain.KindResult, Result: "ok"}
			if i%7 == 0 && s == 0 {
				r = domain.Reply{CallID: req.ID, Server: "s0", Kind: domain.KindResult, Code: domain.CodeFailed, Error: "failed"}
			}
			store1(domain.ReplyRecord(req, r, req.Sent.Add(time.Millisecond)))
		}
	}
	const id = "newest-%03d"
	for i := range n {
		sent := base.Add(time.Duration(i) * time.Second)
		target := "all"
		if i%10 == 0 {
			target = "rare"
		}
		reqs[i] = &domain.Request{ID: fmt.Sprintf(id, i), Target: target, Command: domain.Command{Name: "echo"}, Sent: sent, Deadline: sent.Add(time.Minute)}
		var exp []string
		for s := range 1 + i%6 {
			exp = append(exp, "s"+strconv.Itoa(s))
		}
		store1(domain.JobRecord{Kind: domain.RecordCall, CallID: reqs[i].ID, At: sent, Sent: sent, Deadline: reqs[i].Deadline,
			Target: target, Command: reqs[i].Command, Expected: exp, Known: true})
		if i >= 3 {
			replies(i - 2)
		}
	}
	replies(n - 2)
	replies(n - 1)
	replies(0) // a long job: its replies come last

	jobs := app.NewJobs(store, app.JobsConfig{}, quiet)
	list := func(f app.JobFilter) []string {
		t.Helper()
		l, err := jobs.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(l))
		for i, e := range l {
			out[i] = fmt.Sprintf("%s %s ok=%d error=%d", e.ID, e.Target, e.Counts[domain.StateOK], e.Counts[domain.StateError])
		}
		return out
	}
	all := list(app.JobFilter{})
	if len(all) != n || all[0] != fmt.Sprintf(id, n-1)+" all ok=6 error=0" {
		t.Fatalf("the whole store lists %d jobs, the newest %q", len(all), all[0])
	}
	for _, limit := range []int{1, 7, 20, 60, n, n + 10} {
		if got, want := list(app.JobFilter{Limit: limit}), all[:min(limit, n)]; !slices.Equal(got, want) {
			t.Errorf("--limit %d:\n got %q\nwant %q", limit, got, want)
		}
	}
	rare := list(app.JobFilter{Target: "rare"})
	if len(rare) != n/10 {
		t.Fatalf("--target rare over the whole store: %d jobs, want %d", len(rare), n/10)
	}
	if got := list(app.JobFilter{Target: "rare", Limit: 8}); !slices.Equal(got, rare[:8]) {
		t.Errorf("--target rare --limit 8:\n got %q\nwant %q", got, rare[:8])
	}
	since := base.Add(120 * time.Second)
	recent := list(app.JobFilter{Since: since})
	if len(recent) != n-120 {
		t.Fatalf("--since: %d jobs, want %d", len(recent), n-120)
	}
	if got := list(app.JobFilter{Since: since, Limit: 100}); !slices.Equal(got, recent) {
		t.Errorf("--since --limit 100:\n got %q\nwant %q", got, recent)
	}
}
