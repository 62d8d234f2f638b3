package amqp

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

func sampleJobRecords() []domain.JobRecord {
	t0 := time.Unix(1_780_000_000, 123456789)
	return []domain.JobRecord{
		{Kind: domain.RecordCall, CallID: "6a1b2c3d0a1b2c3d4e5f-1", At: t0, Sent: t0, Deadline: t0.Add(time.Second),
			Caller: "alice", Target: "all", Command: domain.Command{Name: "fib", Args: "30"}, Known: true, Async: true,
			Expected: []string{"q1", "q2"}, Absent: []domain.Absence{{Server: "q3", State: domain.StateDown, LastSeen: t0.Add(-time.Hour)}}},
		{Kind: domain.RecordReply, CallID: "c", At: t0, Sent: t0, Target: "g", Command: domain.Command{Name: "echo"}, Balanced: true, Clipped: true,
			Reply: domain.Reply{CallID: "c", Server: "q1", Kind: domain.KindResult, Error: "boom", Code: domain.CodeFailed,
				Elapsed: 3 * time.Millisecond, Signature: "\x00\x01sig"}},
		{Kind: domain.RecordMark, CallID: "mark-1"},
	}
}

func TestJobCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for _, rec := range sampleJobRecords() {
		got, err := decodeJob(encodeJob(&rec))
		if err != nil {
			t.Fatalf("%s: %v", rec.CallID, err)
		}
		// Times come back without their location and monotonic reading.
		norm := func(r *domain.JobRecord) {
			for _, p := range []*time.Time{&r.At, &r.Sent, &r.Deadline} {
				if !p.IsZero() {
					*p = time.Unix(0, p.UnixNano())
				}
			}
			for i := range r.Absent {
				r.Absent[i].LastSeen = time.Unix(0, r.Absent[i].LastSeen.UnixNano())
			}
		}
		norm(&rec)
		norm(&got)
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
		}
	}
}

// TestJobCodecRefusesDamage: every truncation of a record, and bytes past
// its end, are malformed, never a panic nor a wrong record.
func TestJobCodecRefusesDamage(t *testing.T) {
	t.Parallel()
	for _, rec := range sampleJobRecords() {
		body := encodeJob(&rec)
		for n := range len(body) {
			if _, err := decodeJob(body[:n]); !errors.Is(err, errMalformed) {
				t.Fatalf("%s cut at %d of %d: %v", rec.CallID, n, len(body), err)
			}
		}
		if _, err := decodeJob(append(body, 0)); !errors.Is(err, errMalformed) {
			t.Errorf("%s with a byte more: %v", rec.CallID, err)
		}
	}
	if _, err := decodeJob([]byte("TJ\x02\x01")); !errors.Is(err, errMalformed) {
		t.Errorf("another version: %v", err)
	}
}

func FuzzDecodeJob(f *testing.F) {
	for _, rec := range sampleJobRecords() {
		f.Add(encodeJob(&rec))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, err := decodeJob(body)
		if err != nil {
			return
		}
		again, err := decodeJob(encodeJob(&rec))
		if err != nil || again.CallID != rec.CallID || again.Reply != rec.Reply {
			t.Fatalf("a record read back differs: %+v, %v", again, err)
		}
	})
}

func TestJobBatchSplits(t *testing.T) {
	t.Parallel()
	var batch []pendingJob
	for _, rec := range sampleJobRecords() {
		batch = append(batch, pendingJob{body: encodeJob(&rec)})
	}
	var ids []string
	if err := splitJobs(batchBody(batch), func(b []byte) {
		rec, err := decodeJob(b)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.CallID)
	}); err != nil || len(ids) != 3 || ids[2] != "mark-1" {
		t.Fatalf("split: %v, %v", ids, err)
	}
	one := batchBody(batch[:1])
	if n := 0; splitJobs(one, func([]byte) { n++ }) != nil || n != 1 || one[1] != jobMagic1 {
		t.Error("a batch of one is the record itself")
	}
	whole := batchBody(batch)
	if err := splitJobs(whole[:len(whole)-1], func([]byte) {}); !errors.Is(err, errMalformed) {
		t.Errorf("a cut batch: %v", err)
	}
}
