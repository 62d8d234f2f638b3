package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// Jobs is the results store as the page reads it; *app.Jobs is one.
type Jobs interface {
	List(ctx context.Context, f app.JobFilter) ([]app.JobEntry, error)
	Lookup(ctx context.Context, id string) (*domain.Job, error)
	View(job *domain.Job, until time.Time) domain.JobView
}

// recentJobs is how many jobs the jobs page lists.
const recentJobs = 50

// jobsUnavailable says why there is no jobs view.
const jobsUnavailable = "jobs unavailable: the transport keeps no results store"

// jobRow is one job of the list.
type jobRow struct {
	ID, Target, Command, Caller, State, Summary string
	Sent                                        time.Time
}

type jobsPage struct {
	pageData
	Unavailable string
	Jobs        []jobRow
}

func (c *Console) serveJobs(w http.ResponseWriter, r *http.Request) {
	data := jobsPage{pageData: c.pageData(r, "Jobs")}
	switch {
	case c.cfg.Jobs == nil:
		data.Unavailable = jobsUnavailable
	default:
		list, err := c.cfg.Jobs.List(r.Context(), app.JobFilter{Limit: recentJobs})
		if err != nil {
			data.Unavailable = "the results store cannot be read: " + err.Error()
			break
		}
		for _, j := range list {
			st := "done"
			switch {
			case j.Open:
				st = "open"
			case j.Async:
				st = "done (async)"
			}
			data.Jobs = append(data.Jobs, jobRow{ID: j.ID, Target: j.Target, Command: j.Command.String(), Caller: j.Caller,
				State: st, Summary: summaryText(j.Summary), Sent: j.Sent})
		}
	}
	c.render(w, http.StatusOK, "jobs.html", data)
}

// jobResult is one server's line of a job.
type jobResult struct {
	serverState
	// Late: the result was stored after the call's deadline.
	Late bool
}

type jobPage struct {
	pageData
	Unavailable string
	ID          string
	Target      string
	Command     string
	Sent        time.Time
	Open        bool
	Summary     string
	Servers     []jobResult
}

func (c *Console) serveJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	data := jobPage{pageData: c.pageData(r, "Job "+id), ID: id}
	if c.cfg.Jobs == nil {
		data.Unavailable = jobsUnavailable
		c.render(w, http.StatusOK, "job.html", data)
		return
	}
	job, err := c.cfg.Jobs.Lookup(r.Context(), id)
	switch {
	case errors.Is(err, app.ErrNoJob), errors.Is(err, domain.ErrBadJobID):
		data.Unavailable = err.Error()
		c.render(w, http.StatusNotFound, "job.html", data)
		return
	case err != nil:
		data.Unavailable = "the results store cannot be read: " + err.Error()
		c.render(w, http.StatusOK, "job.html", data)
		return
	}
	v := c.cfg.Jobs.View(job, time.Time{})
	call := &job.Call
	data.Target, data.Command, data.Sent, data.Open = call.Target, call.Command.String(), call.Sent, v.Open
	data.Summary = summaryText(v.Summary)
	late := map[string]bool{}
	for _, res := range v.Results {
		if !call.Deadline.IsZero() && res.At > call.Deadline.Sub(call.Sent) {
			late[res.Reply.Server] = true
		}
	}
	for _, s := range states(v.Outcomes, call.Sent) {
		data.Servers = append(data.Servers, jobResult{serverState: s, Late: late[s.Server]})
	}
	c.render(w, http.StatusOK, "job.html", data)
}
