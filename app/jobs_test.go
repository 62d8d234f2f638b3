package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// TestJobsListReadsBackFromNow: with a limit, List finds the newest jobs
// however far back they go, newest first, reading further only as needed.
func TestJobsListReadsBackFromNow(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	now := time.Now()
	ages := []time.Duration{30 * time.Hour, 3 * time.Hour, 2 * time.Hour, 10 * time.Minute, 2 * time.Second, time.Second}
	for i, age := range ages {
		sent := now.Add(-age)
		req := &domain.Request{ID: fmt.Sprintf("job%d", i), Target: "all", Command: domain.Command{Name: "echo"}, Sent: sent}
		if err := tr.StoreJob(t.Context(), domain.ReplyRecord(req, domain.Reply{CallID: req.ID, Server: "s", Result: "x"}, sent)); err != nil {
			t.Fatal(err)
		}
	}
	jobs := app.NewJobs(tr, app.JobsConfig{}, quiet)
	for _, tc := range []struct {
		f    app.JobFilter
		want string
	}{
		{app.JobFilter{Limit: 2}, "[job5 job4]"},
		{app.JobFilter{Limit: 4}, "[job5 job4 job3 job2]"},
		{app.JobFilter{Limit: 10}, "[job5 job4 job3 job2 job1 job0]"},
		{app.JobFilter{Limit: 10, Since: now.Add(-24 * time.Hour)}, "[job5 job4 job3 job2 job1]"},
		{app.JobFilter{}, "[job5 job4 job3 job2 job1 job0]"},
	} {
		list, err := jobs.List(t.Context(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range list {
			ids = append(ids, e.ID)
		}
		if got := fmt.Sprint(ids); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

// TestJobsListTakesJobsWhoseRecordItRead: a stretch of the store read back
// from its end may begin in the middle of a job (its caller's record
// before the stretch, replies in it): List does not take that job, nor
// count it towards its limit, until it has read the caller's record.
func TestJobsListTakesJobsWhoseRecordItRead(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	base := time.Now().Add(-time.Hour)
	store := func(rec domain.JobRecord) {
		t.Helper()
		if err := tr.StoreJob(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	reqs := make([]*domain.Request, 10)
	reply := func(i, server int) {
		r := domain.Reply{CallID: reqs[i].ID, Server: fmt.Sprintf("s%02d", server), Result: "x"}
		store(domain.ReplyRecord(reqs[i], r, reqs[i].Sent))
	}
	for i := range reqs {
		sent := base.Add(time.Duration(i) * time.Minute)
		reqs[i] = &domain.Request{ID: fmt.Sprintf("job%d", i), Target: "all", Command: domain.Command{Name: "echo"}, Sent: sent}
		store(domain.JobRecord{Kind: domain.RecordCall, CallID: reqs[i].ID, At: sent, Sent: sent, Target: "all",
			Command: reqs[i].Command, Expected: []string{"s00"}, Known: true})
		if i > 0 {
			reply(i, 0)
		}
	}
	for s := range 31 { // job0 ran long: 31 servers' replies come last
		reply(0, s)
	}
	// The first stretch List reads for two jobs (32 records) holds job9's
	// reply and job0's, and neither caller's record.
	list, err := app.NewJobs(tr, app.JobsConfig{}, quiet).List(t.Context(), app.JobFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%s recorded=%v ok=%d", e.ID, e.Recorded, e.Counts[domain.StateOK]))
	}
	if want := "[job9 recorded=true ok=1 job8 recorded=true ok=1]"; fmt.Sprint(got) != want {
		t.Errorf("--limit 2: %v, want %s", got, want)
	}
}

// TestJobsLookupOfALongJob: Lookup reads the store's newest records first;
// a job whose caller's record lies before them (a long job, its replies
// stored last) is still read whole, from further back.
func TestJobsLookupOfALongJob(t *testing.T) {
	t.Parallel()
	for _, others := range []int{300, 3000} { // past the first stretch, past the second
		tr := testkit.MemoryTransport(t)
		store := func(rec domain.JobRecord) {
			t.Helper()
			if err := tr.StoreJob(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
		}
		sent := time.Now().Add(-time.Minute)
		long := &domain.Request{ID: "long", Target: "all", Command: domain.Command{Name: "sleep"}, Sent: sent}
		store(domain.JobRecord{Kind: domain.RecordCall, CallID: long.ID, At: sent, Sent: sent, Target: "all",
			Command: long.Command, Expected: []string{"s1", "s2", "s3"}, Known: true})
		for i := range others {
			req := &domain.Request{ID: fmt.Sprintf("short%d", i), Target: "all", Command: domain.Command{Name: "echo"}, Sent: sent}
			store(domain.ReplyRecord(req, domain.Reply{CallID: req.ID, Server: "s1", Result: "x"}, sent))
		}
		for _, s := range []string{"s1", "s2", "s3"} {
			store(domain.ReplyRecord(long, domain.Reply{CallID: long.ID, Server: s, Result: "done"}, time.Now()))
		}
		job, err := app.NewJobs(tr, app.JobsConfig{}, quiet).Lookup(t.Context(), "long")
		if err != nil {
			t.Fatal(err)
		}
		if !job.Recorded || len(job.Replies) != 3 {
			t.Errorf("%d records between: the long job read with its caller's record %v and %d replies, want true and 3",
				others, job.Recorded, len(job.Replies))
		}
	}
}
