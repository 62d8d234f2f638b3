package memory_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// scanAll returns the call ids of every record the store holds.
func scanAll(t *testing.T, tr *memory.Transport) []string {
	t.Helper()
	var ids []string
	_, err := tr.ScanJobs(t.Context(), ports.JobScan{}, func(rec *domain.JobRecord) bool {
		if rec != nil {
			ids = append(ids, rec.CallID)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestJobStoreBounds: the store keeps at most MaxBytes, dropping the
// oldest records first, and nothing older than MaxAge; a record over
// MaxRecord is clipped, or refused when it cannot be.
func TestJobStoreBounds(t *testing.T) {
	t.Parallel()
	tr := memory.New(memory.Config{Logger: quiet, Jobs: ports.JobStoreLimits{MaxBytes: 10_000, MaxRecord: 1000}})
	defer tr.Close()
	ctx := t.Context()
	for i := range 1000 {
		rec := domain.JobRecord{Kind: domain.RecordReply, CallID: strconv.Itoa(i), Reply: domain.Reply{Result: strings.Repeat("x", 100)}}
		if err := tr.StoreJob(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	ids := scanAll(t, tr)
	if len(ids) == 0 || len(ids) > 10_000/100 || ids[len(ids)-1] != "999" {
		t.Fatalf("kept %d records ending %v; want the newest, under 10,000 bytes", len(ids), ids[len(ids)-1:])
	}
	big := domain.JobRecord{Kind: domain.RecordReply, CallID: "big", Reply: domain.Reply{Result: strings.Repeat("x", 5000)}}
	if err := tr.StoreJob(ctx, big); err != nil {
		t.Fatal(err)
	}
	var clipped bool
	_, _ = tr.ScanJobs(ctx, ports.JobScan{}, func(rec *domain.JobRecord) bool {
		if rec != nil && rec.CallID == "big" {
			clipped = rec.Clipped && rec.Reply.Result == ""
		}
		return true
	})
	if !clipped {
		t.Error("a record over MaxRecord was not stored clipped")
	}
	huge := domain.JobRecord{Kind: domain.RecordCall, CallID: "huge", Expected: []string{strings.Repeat("s", 2000)}}
	if err := tr.StoreJob(ctx, huge); !errors.Is(err, ports.ErrRecordTooLarge) {
		t.Errorf("a call record over MaxRecord: %v", err)
	}

	aged := memory.New(memory.Config{Logger: quiet, Jobs: ports.JobStoreLimits{MaxAge: time.Hour}})
	defer aged.Close()
	_ = aged.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordReply, CallID: "old", At: time.Now().Add(-2 * time.Hour)})
	_ = aged.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordReply, CallID: "new"})
	if ids := scanAll(t, aged); len(ids) != 1 || ids[0] != "new" {
		t.Errorf("with a one-hour age bound: %v", ids)
	}
}

// TestJobStoreFollow: a following scan says when it has caught up, then
// gets records as they are stored, and ends with its context.
func TestJobStoreFollow(t *testing.T) {
	t.Parallel()
	tr := memory.New(memory.Config{Logger: quiet})
	defer tr.Close()
	_ = tr.StoreJob(t.Context(), domain.JobRecord{Kind: domain.RecordReply, CallID: "before"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []string
	_, err := tr.ScanJobs(ctx, ports.JobScan{Follow: true}, func(rec *domain.JobRecord) bool {
		if rec == nil {
			got = append(got, "caught up")
			go func() { _ = tr.StoreJob(ctx, domain.JobRecord{Kind: domain.RecordReply, CallID: "after"}) }()
			return true
		}
		got = append(got, rec.CallID)
		return rec.CallID != "after"
	})
	if err != nil || strings.Join(got, ",") != "before,caught up,after" {
		t.Errorf("follow: %v, %v", got, err)
	}
}
