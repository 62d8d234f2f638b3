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
