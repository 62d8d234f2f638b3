package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

var _ ports.JobStore = (*Transport)(nil)

// jobLog is the results store of an in-process exchange, with a RabbitMQ
// stream's semantics: an append-only log that outlives every writer (for
// the transport's life), read from about a time, bounded by age and by
// size with the oldest records going first, each record clipped to
// Config.Jobs.MaxRecord. Trimming is per record here, per segment on
// RabbitMQ: the bounds hold on both.
type jobLog struct {
	mu      sync.Mutex
	recs    []storedJob
	base    int64         // the sequence number of recs[0]
	bytes   int64         // the sizes of recs, added up
	changed chan struct{} // closed and replaced by every append
}

type storedJob struct {
	rec  domain.JobRecord
	size int
}

func (l *jobLog) wake() <-chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// StoreJob implements ports.JobStore. It never blocks.
func (t *Transport) StoreJob(ctx context.Context, rec domain.JobRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store job %s: %w", rec.CallID, err)
	}
	if t.isClosed() {
		return fmt.Errorf("store job %s: %w", rec.CallID, ports.ErrClosed)
	}
	lim := t.cfg.Jobs
	if !domain.ClipRecord(&rec, lim.MaxRecord) {
		return fmt.Errorf("store job %s: %w (%d bytes, at most %d)", rec.CallID, ports.ErrRecordTooLarge, rec.RecordSize(), lim.MaxRecord)
	}
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	// What the store keeps is its own: a caller's later changes to the
	// slices it passed must not reach it.
	rec.Expected = append([]string(nil), rec.Expected...)
	rec.Absent = append([]domain.Absence(nil), rec.Absent...)
	l := &t.jobs
	l.mu.Lock()
	size := rec.RecordSize()
	l.recs = append(l.recs, storedJob{rec: rec, size: size})
	l.bytes += int64(size)
	old := time.Now().Add(-lim.MaxAge)
	drop := 0
	for drop < len(l.recs)-1 && (l.bytes > lim.MaxBytes || l.recs[drop].rec.At.Before(old)) {
		l.bytes -= int64(l.recs[drop].size)
		drop++
	}
	if drop > 0 {
		clear(l.recs[:drop])
		l.recs = l.recs[drop:]
		l.base += int64(drop)
	}
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
	return nil
}

// scanBatch is how many records a scan copies under the lock at a time.
const scanBatch = 256

// ScanJobs implements ports.JobStore. An entry (JobScan.Back) is one
// record.
func (t *Transport) ScanJobs(ctx context.Context, s ports.JobScan, fn func(*domain.JobRecord) bool) (bool, error) {
	l := &t.jobs
	l.mu.Lock()
	end := l.base + int64(len(l.recs)) // everything before it was stored before the scan began
	next := l.base
	switch {
	case s.Back > 0:
		next = max(end-int64(s.Back), l.base)
	case !s.From.IsZero():
		for i := range l.recs {
			if !l.recs[i].rec.At.Before(s.From) {
				break
			}
			next++
		}
	}
	first := next == l.base
	l.mu.Unlock()
	return first, t.scanFrom(ctx, next, end, s.Follow, fn)
}

// scanFrom is ScanJobs from sequence number next, caught up at end.
func (t *Transport) scanFrom(ctx context.Context, next, end int64, follow bool, fn func(*domain.JobRecord) bool) error {
	l := &t.jobs
	caughtUp := false
	var batch []domain.JobRecord
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan jobs: %w", err)
		}
		if t.isClosed() {
			return fmt.Errorf("scan jobs: %w", ports.ErrClosed)
		}
		l.mu.Lock()
		if next < l.base { // trimmed while we read: go on from the oldest kept
			next = l.base
		}
		batch = batch[:0]
		for _, s := range l.recs[next-l.base:][:min(scanBatch, len(l.recs)-int(next-l.base))] {
			batch = append(batch, s.rec)
		}
		next += int64(len(batch))
		wake := l.wake()
		l.mu.Unlock()
		for i := range batch {
			rec := batch[i]
			if !fn(&rec) {
				return nil
			}
		}
		if !caughtUp && next >= end {
			caughtUp = true
			if !fn(nil) || !follow {
				return nil
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("scan jobs: %w", ctx.Err())
		}
	}
}
