package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// slowRecords is a memory transport whose results store takes callers'
// records only once hold lets them through (a store slow to confirm, or
// one that is down); everything else is stored at once.
type slowRecords struct {
	*memory.Transport
	hold func(ctx context.Context) error
}

func (s slowRecords) StoreJob(ctx context.Context, rec domain.JobRecord) error {
	if rec.Kind == domain.RecordCall {
		if err := s.hold(ctx); err != nil {
			return err
		}
	}
	return s.Transport.StoreJob(ctx, rec)
}

// kinds lists the kinds of the records of job id, in stored order.
func kinds(t *testing.T, store ports.JobStore, id string) []domain.JobRecordKind {
	t.Helper()
	var out []domain.JobRecordKind
	_, err := store.ScanJobs(t.Context(), ports.JobScan{}, func(rec *domain.JobRecord) bool {
		if rec != nil && rec.CallID == id {
			out = append(out, rec.Kind)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordedCallStoresItsRecordFirst: a recorded call's request goes
// out once its record is stored, so that every reply stored comes after
// it (what Jobs.List relies on), even from a store slow to confirm.
func TestRecordedCallStoresItsRecordFirst(t *testing.T) {
	t.Parallel()
	tr := slowRecords{testkit.MemoryTransport(t), func(context.Context) error {
		time.Sleep(100 * time.Millisecond)
		return nil
	}}
	testkit.Start(t, app.NewFleet(tr, []app.ServerConfig{{Name: "s1"}, {Name: "s2"}}, quiet), 0)
	c := app.NewClient(tr, app.ClientConfig{Timeout: 10 * time.Second, Record: true}, quiet)
	call, err := c.Call(t.Context(), "all", domain.Command{Name: "echo", Args: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := call.Next(); ok; _, ok = call.Next() {
	}
	if s := call.Summary(); s.OK != 2 {
		t.Fatalf("summary %+v", s)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := kinds(t, tr, call.ID())
	for end := time.Now().Add(5 * time.Second); len(got) < 3 && time.Now().Before(end); got = kinds(t, tr, call.ID()) {
		time.Sleep(5 * time.Millisecond) // the servers store their replies once sent
	}
	if len(got) != 3 || got[0] != domain.RecordCall {
		t.Errorf("records of the call in stored order: %v, want the caller's, then both replies", got)
	}
}

// TestRecordedCallOutlivesAStuckStore: a store that does not take a
// call's record delays the call a quarter of its time at most, never
// fails it, and says so in one line; the next calls do not wait for it;
// the records are stored once the store takes them, Flush waits for that,
// and the calls after wait for their records again. It runs in a synctest
// bubble: the waits are the bubble's clock, not the machine's.
func TestRecordedCallOutlivesAStuckStore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		tr := slowRecords{testkit.MemoryTransport(t), func(ctx context.Context) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
		testkit.Start(t, app.NewFleet(tr, []app.ServerConfig{{Name: "s1"}}, quiet), 0)
		var logs testkit.LockedBuffer
		c := app.NewClient(tr, app.ClientConfig{Timeout: 2 * time.Second, Record: true}, slog.New(slog.NewTextHandler(&logs, nil)))
		call := func(args string) (*app.Call, time.Duration) {
			t.Helper()
			start := time.Now()
			call, err := c.Call(t.Context(), "s1", domain.Command{Name: "echo", Args: args})
			if err != nil {
				t.Fatal(err)
			}
			for _, ok := call.Next(); ok; _, ok = call.Next() {
			}
			if s := call.Summary(); s.OK != 1 || s.Reason != domain.DoneAllReplied {
				t.Fatalf("summary %+v, want the call answered", s)
			}
			return call, time.Since(start)
		}
		first, took := call("x")
		if took != 500*time.Millisecond {
			t.Errorf("the first call took %v, want a quarter of its 2 s (the wait for its record)", took)
		}
		for range 3 {
			if _, took := call("y"); took != 0 {
				t.Errorf("a call after the store was found late took %v, want no wait", took)
			}
		}
		if n := strings.Count(logs.String(), "call sent before its record was stored"); n != 1 {
			t.Errorf("%d warnings that a call went out before its record, want 1: %q", n, logs.String())
		}
		close(release)
		if err := c.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := kinds(t, tr, first.ID()); len(got) != 2 || got[1] != domain.RecordCall {
			t.Errorf("records of the first call in stored order: %v, want the reply, then the caller's", got)
		}
		if !strings.Contains(logs.String(), "the results store takes records again") {
			t.Errorf("not told the store recovered: %q", logs.String())
		}
		again, _ := call("z") // recovered: calls wait for their records again
		synctest.Wait()       // the server stores its reply once it has sent it
		if got := kinds(t, tr, again.ID()); len(got) != 2 || got[0] != domain.RecordCall {
			t.Errorf("after recovery, records of a call in stored order: %v, want the caller's first", got)
		}
	})
}

// TestRecordedCallPastItsDeadline: a call whose deadline passes before it
// is sent has no time to wait for its record: that is not taken for a
// late store.
func TestRecordedCallPastItsDeadline(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	testkit.Start(t, app.NewFleet(tr, []app.ServerConfig{{Name: "s1"}}, quiet), 0)
	var logs testkit.LockedBuffer
	c := app.NewClient(tr, app.ClientConfig{Record: true, Timeout: time.Nanosecond}, slog.New(slog.NewTextHandler(&logs, nil)))
	if call, err := c.Call(t.Context(), "s1", domain.Command{Name: "echo"}); err == nil {
		for _, ok := call.Next(); ok; _, ok = call.Next() {
		}
	}
	if strings.Contains(logs.String(), "results store is slow") {
		t.Errorf("a call past its deadline was taken for a late store: %q", logs.String())
	}
}
