package faults_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// TestJobsSurviveBrokerRestart: the results store is a stream, on disk, so
// a broker restarted (shut down, then booted on its data) still holds every
// job's records: a job read after the restart is the one read before it.
//
// Shut down, not killed: on 3.10.8 here, a stream declared a minute before
// the node was SIGKILLed did not come back (the node booted its stream
// coordinator with no member registered, and answered "home node … is down
// or inaccessible" for over two minutes); see ARCHITECTURE.
func TestJobsSurviveBrokerRestart(t *testing.T) {
	n := requireNode(t)
	log := testkit.LoggerAt(t, slog.LevelWarn)
	ns := amqptest.New(t, testkit.Broker{URL: n.URL, ManagementURL: n.ManagementURL}, "jobs")
	tr := ns.Transport(t)
	fleet := app.NewFleet(tr, []app.ServerConfig{{Name: "j1"}, {Name: "j2"}}, log)
	testkit.Start(t, fleet, 10*time.Second)
	c := app.NewClient(tr, app.ClientConfig{Timeout: 10 * time.Second}, log)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	id, err := c.Submit(ctx, "all", domain.Command{Name: "fib", Args: "30"})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Minute)
	var before domain.JobView
	err = jobs.Follow(ctx, id, func(j *domain.Job) bool {
		before = jobs.View(j, until)
		return before.Open
	})
	if err != nil || before.Summary.OK != 2 {
		t.Fatalf("job before the restart: %+v, %v", before.Summary, err)
	}

	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := n.RestartKeepingData(ctx); err != nil {
		t.Fatal(err)
	}
	after := app.NewJobs(ns.Transport(t), app.JobsConfig{}, log)
	var job *domain.Job
	for wait := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if job, err = after.Lookup(ctx, id); err == nil || time.Now().After(wait) {
			break
		}
	}
	if err != nil {
		t.Fatalf("the job cannot be read a minute after the restart: %v", err)
	}
	v := after.View(job, time.Time{})
	if !job.Recorded || v.Summary.OK != 2 || v.Summary.Expected != 2 || len(v.Results) != 2 || v.Results[0].Reply.Result != "832040" {
		t.Errorf("job after the restart: recorded %v, summary %+v, results %+v", job.Recorded, v.Summary, v.Results)
	}
}
