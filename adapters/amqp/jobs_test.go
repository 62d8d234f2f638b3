package amqp_test

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// scanIDs returns the call ids of the records the store holds, in order.
func scanIDs(t *testing.T, tr *amqp.Transport) []string {
	t.Helper()
	ids, _ := scanIDsFrom(t, tr, ports.JobScan{})
	return ids
}

// scanIDsFrom is scanIDs from where s says, and whether the scan began at
// the stream's first entry kept.
func scanIDsFrom(t *testing.T, tr *amqp.Transport, s ports.JobScan) ([]string, bool) {
	t.Helper()
	var ids []string
	first, err := tr.ScanJobs(testkit.Context(t, 30*time.Second), s, func(rec *domain.JobRecord) bool {
		if rec != nil {
			ids = append(ids, rec.CallID)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, first
}

// TestJobStreamSkipsMalformedRecords: a message in the results stream that
// is no job record is skipped with one log line; the records around it
// are read.
func TestJobStreamSkipsMalformedRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var logs testkit.LockedBuffer
	tr := e.Transport(t, func(c *amqp.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx := testkit.Context(t, 30*time.Second)
	store := func(id string) {
		if err := tr.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordCall, CallID: id, Target: "all"}); err != nil {
			t.Fatal(err)
		}
	}
	store("before")
	ch := amqptest.Channel(t, e.Broker.URL)
	if err := ch.PublishWithContext(ctx, e.Exchange+".jobs", "", false, false, amqp091.Publishing{Body: []byte("TJ\x01\x02garbage")}); err != nil {
		t.Fatal(err)
	}
	store("after")
	if ids := scanIDs(t, tr); strings.Join(ids, ",") != "before,after" {
		t.Errorf("read %v, want before,after", ids)
	}
	if n := strings.Count(logs.String(), "skipped a job record"); n != 1 {
		t.Errorf("%d log lines about the malformed record, want 1:\n%s", n, logs.String())
	}
}

// TestJobStreamRetention: the stream holds at most its MaxBytes (plus a
// segment): the oldest records go first, the newest stay; a scan back from
// the end past what it keeps starts at the first record kept, and says so.
func TestJobStreamRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const maxBytes, segment, n, size = 200_000, 50_000, 1500, 1000
	tr := e.Transport(t, func(c *amqp.Config) {
		c.Jobs = ports.JobStoreLimits{MaxBytes: maxBytes}
		c.JobSegmentBytes = segment
	})
	ctx := testkit.Context(t, 60*time.Second)
	for i := range n { // one at a time: a message each (the stream's entries)
		rec := domain.JobRecord{Kind: domain.RecordReply, CallID: strconv.Itoa(i), Reply: domain.Reply{Server: "s", Result: strings.Repeat("x", size)}}
		if err := tr.StoreJob(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordCall, CallID: "newest"}); err != nil {
		t.Fatal(err)
	}
	ids := scanIDs(t, tr)
	if len(ids) == 0 || ids[len(ids)-1] != "newest" {
		t.Fatalf("the newest record is not last: %d records", len(ids))
	}
	if kept := len(ids) * size; kept > maxBytes+2*segment {
		t.Errorf("the stream keeps %d records of ~%d bytes (%d bytes) over a bound of %d bytes and %d-byte segments",
			len(ids), size, kept, maxBytes, segment)
	}
	t.Logf("kept %d of %d records", len(ids), n+1)

	// Read back from the end: a few entries are the newest records, not
	// the first kept; more entries than are kept start at the first kept
	// (the broker attaches there when asked for an offset it dropped).
	if tail, first := scanIDsFrom(t, tr, ports.JobScan{Back: 3}); first || len(tail) == 0 || len(tail) >= len(ids) || tail[len(tail)-1] != "newest" {
		t.Errorf("3 entries back: %d records ending %q, first %v; want a few, ending with the newest, not the first kept",
			len(tail), tail[len(tail)-1:], first)
	}
	for _, back := range []int{len(ids) + 200, 1 << 30} { // an offset dropped by retention; before the stream's start
		if all, first := scanIDsFrom(t, tr, ports.JobScan{Back: back}); !first || len(all) < len(ids) {
			t.Errorf("%d entries back: %d records, first %v; want the %d kept and first", back, len(all), first, len(ids))
		}
	}
}

// TestJobStoreGroupCommit: records stored at once, many at a time, each
// come back exactly once, whatever messages carried them.
func TestJobStoreGroupCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tr := e.Transport(t)
	ctx := testkit.Context(t, 60*time.Second)
	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs <- tr.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordCall, CallID: strconv.Itoa(i)})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, id := range scanIDs(t, tr) {
		seen[id]++
	}
	for i := range n {
		if seen[strconv.Itoa(i)] != 1 {
			t.Fatalf("record %d read %d times, want once (%d distinct read)", i, seen[strconv.Itoa(i)], len(seen))
		}
	}
}
