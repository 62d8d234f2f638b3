package conformance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// jobsOf returns the transport's results store (the Jobs cases run only
// on transports whose Features say they keep one).
func jobsOf(t *testing.T, tr ports.Transport, _ Features) ports.JobStore {
	t.Helper()
	store, ok := tr.(ports.JobStore)
	if !ok {
		t.Fatal("Features.Jobs, but the transport is no ports.JobStore")
	}
	return store
}

// jobFleet starts two servers, j1 and j2 (target "all" reaches both), with
// a "slow" command that answers after d whatever its deadline says.
func jobFleet(t *testing.T, tr ports.Transport, key []byte, d time.Duration) {
	t.Helper()
	var cfgs []app.ServerConfig
	for _, name := range []string{"j1", "j2"} {
		cfgs = append(cfgs, app.ServerConfig{Name: name, Concurrency: 2, AuthKey: key})
	}
	fleet := app.NewFleet(tr, cfgs, quiet)
	for _, s := range fleet.Servers() {
		_ = s.Handle("slow", func(context.Context, string) (string, error) {
			time.Sleep(d) // finishes its work, deadline or not
			return "done late", nil
		})
	}
	testkit.Start(t, fleet, 0)
}

// waitJob follows job id until every expected server answered (or wait
// passes), as job --wait does: late replies included.
func waitJob(t *testing.T, jobs *app.Jobs, id string) (*domain.Job, domain.JobView) {
	t.Helper()
	until := time.Now().Add(wait)
	ctx, cancel := context.WithDeadline(t.Context(), until)
	defer cancel()
	var job *domain.Job
	var view domain.JobView
	err := jobs.Follow(ctx, id, func(j *domain.Job) bool {
		job, view = j, jobs.View(j, until)
		return view.Open
	})
	if err != nil {
		t.Fatalf("follow job %s: %v", id, err)
	}
	return job, view
}

// testJobsAsync: a submitted call returns its id at once, and the job,
// read back from the store, has both servers' results, like a call.
func testJobsAsync(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	jobsOf(t, tr, feat)
	jobFleet(t, tr, nil, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: wait}, quiet)
	id, err := c.Submit(t.Context(), "all", domain.Command{Name: "fib", Args: "25"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := domain.JobTime(id); !ok {
		t.Errorf("job id %q carries no time", id)
	}
	jobs, err := c.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	job, v := waitJob(t, jobs, id)
	if !job.Recorded || !job.Call.Async || job.Call.Target != "all" || job.Call.Command.String() != "fib|25" {
		t.Errorf("job record %+v", job.Call)
	}
	if v.Summary.OK != 2 || v.Summary.Expected != 2 || v.Summary.Reason != domain.DoneAllReplied {
		t.Errorf("summary %+v, want 2 of 2 ok", v.Summary)
	}
	for _, r := range v.Results {
		if r.Reply.Result != "75025" {
			t.Errorf("%s answered %+v", r.Reply.Server, r.Reply)
		}
	}
	if len(v.Results) != 2 {
		t.Errorf("%d results, want 2", len(v.Results))
	}
}

// testJobsLateReplies: a recorded call ends at its deadline with both
// servers still working; their results, sent after it, are in the job.
// A call not recorded leaves no job.
func testJobsLateReplies(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	jobsOf(t, tr, feat)
	jobFleet(t, tr, nil, 600*time.Millisecond)
	c := app.NewClient(tr, app.ClientConfig{Record: true}, quiet)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	call, err := c.Call(ctx, "all", domain.Command{Name: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := call.Next(); ok; _, ok = call.Next() {
	}
	cancel()
	if s := call.Summary(); s.OK != 0 {
		t.Fatalf("the call itself got %d results before its deadline; the case wants them late", s.OK)
	}
	if err := c.Flush(t.Context()); err != nil { // a record not stored within the call's wait is stored after it
		t.Fatal(err)
	}
	jobs, _ := c.Jobs()
	job, v := waitJob(t, jobs, call.ID())
	if !job.Recorded || job.Call.Async {
		t.Errorf("job record %+v", job.Call)
	}
	if v.Summary.OK != 2 || v.Summary.Reason != domain.DoneAllReplied {
		t.Errorf("summary %+v, want both late results ok", v.Summary)
	}
	for _, o := range v.Outcomes {
		if o.State != domain.StateOK || o.Reply.Result != "done late" {
			t.Errorf("%s: %v %+v", o.Server, o.State, o.Reply)
		}
	}

	plain := app.NewClient(tr, app.ClientConfig{}, quiet)
	call2, err := plain.Call(t.Context(), "all", domain.Command{Name: "fib", Args: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := call2.Next(); ok; _, ok = call2.Next() {
	}
	if _, err := jobs.Lookup(t.Context(), call2.ID()); !errors.Is(err, app.ErrNoJob) {
		t.Errorf("a call not recorded: lookup says %v, want ErrNoJob", err)
	}
}

// testJobsList: jobs are listed newest first, filtered by target, limited.
func testJobsList(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	jobsOf(t, tr, feat)
	jobFleet(t, tr, nil, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: wait}, quiet)
	jobs, _ := c.Jobs()
	var ids []string
	for _, target := range []string{"all", "j1", "all"} {
		id, err := c.Submit(t.Context(), target, domain.Command{Name: "echo", Args: target})
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, jobs, id)
		ids = append(ids, id)
		time.Sleep(5 * time.Millisecond) // distinct sending times
	}
	list, err := jobs.List(t.Context(), app.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.ID)
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list %v, want %v (newest first)", got, want)
	}
	if e := list[0]; e.Counts[domain.StateOK] != 2 || e.Target != "all" || !e.Async || e.Open {
		t.Errorf("newest entry %+v", e)
	}
	only, err := jobs.List(t.Context(), app.JobFilter{Target: "j1"})
	if err != nil || len(only) != 1 || only[0].ID != ids[1] || only[0].Counts[domain.StateOK] != 1 {
		t.Errorf("--target j1: %+v, %v", only, err)
	}
	two, err := jobs.List(t.Context(), app.JobFilter{Limit: 2})
	if err != nil || len(two) != 2 || two[0].ID != ids[2] {
		t.Errorf("--limit 2: %+v, %v", two, err)
	}
	later, err := jobs.List(t.Context(), app.JobFilter{Since: time.Now().Add(time.Hour)})
	if err != nil || len(later) != 0 {
		t.Errorf("--since an hour ahead: %+v, %v", later, err)
	}
}

// testJobsUnknown: an id the store never saw is ErrNoJob, at once; a
// malformed one is refused before reading.
func testJobsUnknown(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	store := jobsOf(t, tr, feat)
	jobs := app.NewJobs(store, app.JobsConfig{}, quiet)
	for _, id := range []string{"6a2b3c4d000000000000-1", "no-time-in-it"} {
		if _, err := jobs.Lookup(t.Context(), id); !errors.Is(err, app.ErrNoJob) {
			t.Errorf("unknown job %s: %v, want ErrNoJob", id, err)
		}
	}
	if _, err := jobs.Lookup(t.Context(), "bad id"); !errors.Is(err, domain.ErrBadJobID) {
		t.Errorf("id with a space: %v, want ErrBadJobID", err)
	}
}

// testJobsSigned: the replies of keyed servers stay verifiable in the
// store; a reply record nobody signed is refused by a reader with the key.
func testJobsSigned(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	store := jobsOf(t, tr, feat)
	key := []byte("conformance-jobs-key-0123456789ab")
	jobFleet(t, tr, key, 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: wait, AuthKey: key}, quiet)
	id, err := c.Submit(t.Context(), "all", domain.Command{Name: "echo", Args: "signed"})
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := c.Jobs()
	job, v := waitJob(t, jobs, id)
	if v.Summary.OK != 2 || v.Summary.Forged != 0 {
		t.Fatalf("signed job: %+v", v.Summary)
	}
	forged := domain.ReplyRecord(&domain.Request{ID: id, Target: "all", Sent: job.Call.Sent},
		domain.Reply{CallID: id, Server: "j3", Result: "trust me", Signature: string(make([]byte, 32))}, time.Now())
	if err := store.StoreJob(t.Context(), forged); err != nil {
		t.Fatal(err)
	}
	got, err := jobs.Lookup(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if v := jobs.View(got, time.Time{}); v.Summary.Forged != 1 || v.Summary.OK != 2 || !slices.Equal(v.Summary.ForgedClaims, []string{"j3"}) {
		t.Errorf("with a forged record: %+v", v.Summary)
	}
}
