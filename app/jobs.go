package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// ErrNoJob: the results store holds no record of that job id (never made,
// not recorded, or dropped by the store's bounds).
var ErrNoJob = errors.New("no such job")

// JobSkew is how long before the time in a job's id (domain.JobTime) a
// lookup starts reading the results store: room for the caller's clock
// running ahead of the servers'.
const JobSkew = 2 * time.Minute

// JobsConfig tunes Jobs. The zero value is ready to use.
type JobsConfig struct {
	// AuthKey, when set, accepts only stored replies signed with it
	// (domain.VerifyReply), as a Client with the key does: the others are
	// counted as forged.
	AuthKey []byte
	// ServerKeys, when it holds keys, accepts stored replies signed by the
	// server they name (its public key), as ClientConfig.ServerKeys does.
	ServerKeys *domain.Keyring
}

// Jobs reads jobs back from a results store: one job by id (Lookup,
// Follow), or the recent ones (List). It is safe for concurrent use; it
// holds no state between calls, so every answer is the store's as it is.
type Jobs struct {
	store ports.JobStore
	cfg   JobsConfig
	log   *slog.Logger
	now   func() time.Time
}

// NewJobs returns the jobs of store. log may be nil.
func NewJobs(store ports.JobStore, cfg JobsConfig, log *slog.Logger) *Jobs {
	if log == nil {
		log = slog.Default()
	}
	return &Jobs{store: store, cfg: cfg, log: log, now: time.Now}
}

// Jobs returns the jobs of the client's transport, read with the client's
// key, or ErrNoJobStore when the transport keeps no results store.
func (c *Client) Jobs() (*Jobs, error) {
	store, ok := c.t.(ports.JobStore)
	if !ok {
		return nil, ErrNoJobStore
	}
	return NewJobs(store, JobsConfig{AuthKey: c.cfg.AuthKey, ServerKeys: c.cfg.ServerKeys}, c.log), nil
}

// from is where reading for job id starts.
func jobFrom(id string) time.Time {
	if t, ok := domain.JobTime(id); ok {
		return t.Add(-JobSkew)
	}
	return time.Time{}
}

// Lookup returns job id as the store holds it now, or an error wrapping
// ErrNoJob when it holds no record of it (domain.ErrBadJobID for an id no
// call could have had). It reads the store from about the time in the id.
func (j *Jobs) Lookup(ctx context.Context, id string) (*domain.Job, error) {
	var job *domain.Job
	err := j.Follow(ctx, id, func(got *domain.Job) bool {
		job = got
		return false
	})
	return job, err
}

// Follow calls fn with job id once the store has been read up to now, and
// then again each time a record of the job is stored, until fn returns
// false (Follow returns nil) or ctx ends (it returns ctx's error). The job
// passed to fn is the same one, grown: fn must not keep it past its return
// while Follow runs. It fails with an error wrapping ErrNoJob when, read up
// to now, the store holds no record of id.
func (j *Jobs) Follow(ctx context.Context, id string, fn func(*domain.Job) bool) error {
	if err := domain.ValidateJobID(id); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	job := &domain.Job{ID: id}
	caughtUp, stopped := false, false
	var noJob bool
	err := j.store.ScanJobs(ctx, jobFrom(id), true, func(rec *domain.JobRecord) bool {
		if rec == nil {
			caughtUp = true
			if job.Empty() {
				noJob = true
				return false
			}
			stopped = !fn(job)
			return !stopped
		}
		if rec.CallID != id {
			return true
		}
		job.Add(*rec)
		if caughtUp {
			stopped = !fn(job)
			return !stopped
		}
		return true
	})
	switch {
	case noJob:
		return fmt.Errorf("job %s: %w", id, ErrNoJob)
	case err != nil:
		return fmt.Errorf("job %s: %w", id, err)
	}
	return nil
}

// View is where job stands now, its replies checked with the key (see
// JobsConfig.AuthKey); until, when later than the call's deadline, keeps
// it open until then (domain.Job.View).
func (j *Jobs) View(job *domain.Job, until time.Time) domain.JobView {
	var verify func(*domain.Reply) bool
	if t := (domain.Trust{FleetKey: j.cfg.AuthKey, Keys: j.cfg.ServerKeys}); !t.IsZero() {
		verify = t.VerifyReply
	}
	return job.View(j.now(), until, verify)
}

// JobFilter chooses the jobs List returns.
type JobFilter struct {
	// Since leaves out jobs sent before it; the zero time keeps all.
	Since time.Time
	// Target, when set, keeps only the jobs sent to exactly that target.
	Target string
	// Limit, when positive, keeps only the newest Limit jobs.
	Limit int
}

// JobEntry is one job of a list.
type JobEntry struct {
	ID string
	// Sent is when the call was sent, by its caller's clock.
	Sent     time.Time
	Caller   string
	Target   string
	Command  domain.Command
	Async    bool
	Recorded bool // the caller's record was read: Expected is known
	// Open: an expected server has no result yet and the call's deadline
	// has not passed.
	Open bool
	// Summary is the job's, as domain.Job.View makes it; Counts the servers
	// by state.
	Summary domain.Summary
	Counts  domain.Counts
}

// listWindow is the first stretch of time List reads, back from now, when
// it wants only the newest jobs (JobFilter.Limit); each next one reaches
// listGrowth times as far, until one holds Limit jobs or reaches Since:
// with the CLI's --since 24h, at most five reads, the last ones reading
// what the first did again (an eighth of the total at most).
const (
	listWindow = time.Minute
	listGrowth = 8
)

// List returns the jobs the filter chooses, newest first (by Sent), as
// the store holds them now. With a Limit it reads the store back from now
// a stretch at a time (a minute, then twice as far each time, to
// f.Since; see listWindow): the newest jobs of a store that spans days
// cost a read of minutes, not of days. Without one it reads from f.Since.
func (j *Jobs) List(ctx context.Context, f JobFilter) ([]JobEntry, error) {
	now := j.now()
	var jobs map[string]*domain.Job
	for w := listWindow; ; w *= listGrowth {
		since, last := now.Add(-w), false
		if f.Limit <= 0 || !since.After(f.Since) || w > 10*365*24*time.Hour {
			since, last = f.Since, true
		}
		var err error
		if jobs, err = j.read(ctx, since, f.Target); err != nil {
			return nil, err
		}
		if last || len(jobs) >= f.Limit {
			break
		}
	}
	list := make([]*domain.Job, 0, len(jobs))
	for _, job := range jobs {
		list = append(list, job)
	}
	slices.SortFunc(list, func(a, b *domain.Job) int {
		if c := b.Call.Sent.Compare(a.Call.Sent); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(list) > f.Limit {
		list = list[:f.Limit]
	}
	out := make([]JobEntry, len(list))
	for i, job := range list {
		v := j.View(job, time.Time{})
		c := &job.Call
		out[i] = JobEntry{ID: job.ID, Sent: c.Sent, Caller: c.Caller, Target: c.Target, Command: c.Command,
			Async: job.Recorded && c.Async, Recorded: job.Recorded, Open: v.Open, Summary: v.Summary,
			Counts: domain.CountStates(v.Outcomes)}
	}
	return out, nil
}

// read gathers the jobs sent since then (to target, when set) from the
// store: read from a skew earlier, since a record's time in the store is
// its writer's or the broker's clock, not the caller's.
func (j *Jobs) read(ctx context.Context, since time.Time, target string) (map[string]*domain.Job, error) {
	from := since
	if !from.IsZero() {
		from = from.Add(-JobSkew)
	}
	jobs := make(map[string]*domain.Job)
	err := j.store.ScanJobs(ctx, from, false, func(rec *domain.JobRecord) bool {
		if rec == nil || rec.Sent.Before(since) || (target != "" && rec.Target != target) {
			return true
		}
		job := jobs[rec.CallID]
		if job == nil {
			job = &domain.Job{ID: rec.CallID}
			jobs[rec.CallID] = job
		}
		job.Add(*rec)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return jobs, nil
}
