package web

import (
	"context"
	"net/http"
	"time"
)

// Jobs is the results store as the page reads it: recent jobs, newest
// first, and one job by id with its results, late ones included.
type Jobs interface {
	Recent(ctx context.Context, n int) ([]Job, error)
	Lookup(ctx context.Context, id string) (Job, bool, error)
}

// Job is one stored call and what came of it.
type Job struct {
	ID      string
	Target  string
	Command string
	Started time.Time
	// State is where the job stands: running, done, expired, ….
	State   string
	Summary string
	Results []JobResult
}

// JobResult is one server's result of a job.
type JobResult struct {
	Server string
	State  string
	Result string
	Error  string
	At     time.Time
	// Late: it came after the call that sent the job had ended.
	Late bool
}

// recentJobs is how many jobs the jobs page lists.
const recentJobs = 50

// jobsUnavailable says why there is no jobs view.
const jobsUnavailable = "jobs unavailable: this console has no results store"

func (c *Console) serveJobs(w http.ResponseWriter, r *http.Request) {
	data := jobsPage{pageData: c.pageData(r, "Jobs")}
	if c.cfg.Jobs == nil {
		data.Unavailable = jobsUnavailable
	} else if jobs, err := c.cfg.Jobs.Recent(r.Context(), recentJobs); err != nil {
		data.Unavailable = "the results store cannot be read: " + err.Error()
	} else {
		data.Jobs = jobs
	}
	c.render(w, http.StatusOK, "jobs.html", data)
}

func (c *Console) serveJob(w http.ResponseWriter, r *http.Request) {
	data := jobPage{pageData: c.pageData(r, "Job "+r.PathValue("id"))}
	if c.cfg.Jobs == nil {
		data.Unavailable = jobsUnavailable
		c.render(w, http.StatusOK, "job.html", data)
		return
	}
	job, ok, err := c.cfg.Jobs.Lookup(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		data.Unavailable = "the results store cannot be read: " + err.Error()
	case !ok:
		data.Unavailable = "no job " + r.PathValue("id") + " in the results store"
		c.render(w, http.StatusNotFound, "job.html", data)
		return
	default:
		data.Job = &job
	}
	c.render(w, http.StatusOK, "job.html", data)
}

type jobsPage struct {
	pageData
	Unavailable string
	Jobs        []Job
}

type jobPage struct {
	pageData
	Unavailable string
	Job         *Job
}
