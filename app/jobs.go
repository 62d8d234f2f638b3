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
//
// It reads the store's newest records first (followBack, then listGrowth
// times as many): a job's records all come after its caller's record, so a
// stretch holding that record holds the whole job, and a recent job costs
// a read of the store's newest records however much the store holds.
// Else it reads the store from about the time in the id (less JobSkew).
func (j *Jobs) Follow(ctx context.Context, id string, fn func(*domain.Job) bool) error {
	if err := domain.ValidateJobID(id); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	from := jobFrom(id)
	for _, back := range [...]int{followBack, followBack * listGrowth} {
		switch found, err := j.follow(ctx, id, ports.JobScan{Back: back, Follow: true}, from, fn); {
		case err != nil:
			return err
		case found:
			return nil
		}
	}
	_, err := j.follow(ctx, id, ports.JobScan{From: from, Follow: true}, time.Time{}, fn)
	return err
}

// followBack is how many entries back from the store's end Follow reads
// first.
const followBack = 256

// follow is Follow over one scan. A scan that does not start at the
// store's first entry, nor before from, may begin after the job's first
// records: unless it holds the caller's record, follow ends it once it has
// caught up, without calling fn, and returns false.
func (j *Jobs) follow(ctx context.Context, id string, scan ports.JobScan, from time.Time, fn func(*domain.Job) bool) (bool, error) {
	job := &domain.Job{ID: id}
	whole := scan.Back == 0 // the scan reads from the id's time: all there is
	read, caughtUp, stopped, partial, noJob := false, false, false, false, false
	first, err := j.store.ScanJobs(ctx, scan, func(rec *domain.JobRecord) bool {
		if rec == nil {
			caughtUp = true
			switch {
			case !job.Recorded && !whole:
				partial = true
				return false
			case job.Empty():
				noJob = true
				return false
			}
			stopped = !fn(job)
			return !stopped
		}
		if !read {
			read = true
			whole = whole || (!from.IsZero() && rec.At.Before(from)) // the scan starts before the job can
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
	case partial && first && job.Empty():
		return true, fmt.Errorf("job %s: %w", id, ErrNoJob) // the whole store read
	case partial:
		return false, nil
	case noJob:
		return true, fmt.Errorf("job %s: %w", id, ErrNoJob)
	case err != nil:
		return true, fmt.Errorf("job %s: %w", id, err)
	}
	return true, nil
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

// List reads listBack0 + listBackPerJob×Limit entries back from the
// store's end first; each next stretch is as long as the jobs found so far
// suggest (a quarter more), at least twice and at most listGrowth times
// the last one.
const (
	listBack0      = 16
	listBackPerJob = 8
	listGrowth     = 8
)

// List returns the jobs the filter chooses, newest first (by Sent), as
// the store holds them now.
//
// With a Limit it reads the store back from its end (ports.JobScan.Back),
// a stretch at a time, each longer than the last, until the stretch holds
// Limit chosen jobs, reaches the store's first record, or reaches records
// stored before f.Since (less JobSkew): the newest jobs cost a read of the
// store's newest records, however much it holds. A job is taken from a
// stretch only when its caller's record is in it: every record of a job
// is stored after its caller's record (a Client stores it before the
// request goes out), so the stretch holds all of the job's records. Jobs
// without a caller's record (a caller that could not store it) are listed
// only from a stretch that reaches the store's first record or Since.
//
// Without a Limit it reads the store from f.Since (less JobSkew).
func (j *Jobs) List(ctx context.Context, f JobFilter) ([]JobEntry, error) {
	var jobs []*domain.Job
	if f.Limit <= 0 {
		from := f.Since
		if !from.IsZero() {
			from = from.Add(-JobSkew)
		}
		s, err := j.read(ctx, ports.JobScan{From: from}, f)
		if err != nil {
			return nil, err
		}
		jobs = s.chosen(true)
	} else {
		for back := listBack0 + listBackPerJob*f.Limit; ; {
			s, err := j.read(ctx, ports.JobScan{Back: back}, f)
			if err != nil {
				return nil, err
			}
			whole := s.first || (!f.Since.IsZero() && s.oldest.Before(f.Since.Add(-JobSkew)))
			if jobs = s.chosen(whole); whole || len(jobs) >= f.Limit {
				break
			}
			next := back * listGrowth
			if n := len(jobs); n > 0 {
				next = min(max(back*f.Limit/n*5/4, 2*back), next)
			}
			back = next
		}
	}
	slices.SortFunc(jobs, func(a, b *domain.Job) int {
		if c := b.Call.Sent.Compare(a.Call.Sent); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(jobs) > f.Limit {
		jobs = jobs[:f.Limit]
	}
	out := make([]JobEntry, len(jobs))
	for i, job := range jobs {
		v := j.View(job, time.Time{})
		c := &job.Call
		out[i] = JobEntry{ID: job.ID, Sent: c.Sent, Caller: c.Caller, Target: c.Target, Command: c.Command,
			Async: job.Recorded && c.Async, Recorded: job.Recorded, Open: v.Open, Summary: v.Summary,
			Counts: domain.CountStates(v.Outcomes)}
	}
	return out, nil
}

// stretch is what one read of the store gathered.
type stretch struct {
	jobs   map[string]*domain.Job
	first  bool      // it began at the store's first record kept
	oldest time.Time // the time of its first record (the zero time when empty)
}

// chosen returns the stretch's jobs whose caller's record it holds, and,
// with orphans, the others too.
func (s *stretch) chosen(orphans bool) []*domain.Job {
	out := make([]*domain.Job, 0, len(s.jobs))
	for _, job := range s.jobs {
		if job.Recorded || orphans {
			out = append(out, job)
		}
	}
	return out
}

// read gathers the jobs f chooses (sent since f.Since, to f.Target) from
// a scan of the store. A record's time in the store is its writer's or the
// broker's clock, not the caller's: Since is compared with the call's.
func (j *Jobs) read(ctx context.Context, scan ports.JobScan, f JobFilter) (*stretch, error) {
	s := &stretch{jobs: make(map[string]*domain.Job)}
	seen := false
	first, err := j.store.ScanJobs(ctx, scan, func(rec *domain.JobRecord) bool {
		if rec == nil {
			return true
		}
		if !seen {
			s.oldest, seen = rec.At, true
		}
		if rec.Sent.Before(f.Since) || (f.Target != "" && rec.Target != f.Target) {
			return true
		}
		job := s.jobs[rec.CallID]
		if job == nil {
			job = &domain.Job{ID: rec.CallID}
			s.jobs[rec.CallID] = job
		}
		job.Add(*rec)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	s.first = first
	return s, nil
}
