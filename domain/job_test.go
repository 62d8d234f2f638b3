package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

func TestJobTimeRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 21, 30, 5, 0, time.UTC)
	id := string(domain.AppendJobIDTime(nil, at)) + "0a1b2c3d4e5f-1"
	got, ok := domain.JobTime(id)
	if !ok || !got.Equal(at) {
		t.Fatalf("JobTime(%q) = %v, %v; want %v", id, got, ok, at)
	}
	for _, bad := range []string{"", "1234567", "zz000000-1", "00000001-1", "0A1B2C3D-1"} {
		if _, ok := domain.JobTime(bad); ok {
			t.Errorf("JobTime(%q) found a time", bad)
		}
	}
}

func TestValidateJobID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", "a b", strings.Repeat("x", 256), "x\n"} {
		if domain.ValidateJobID(id) == nil {
			t.Errorf("ValidateJobID(%q) accepted it", id)
		}
	}
	if err := domain.ValidateJobID("6a2b3c4d0a1b2c3d4e5f-1"); err != nil {
		t.Error(err)
	}
}

func TestClipRecord(t *testing.T) {
	t.Parallel()
	rec := domain.JobRecord{Kind: domain.RecordReply, CallID: "c", Command: domain.Command{Name: "x", Args: strings.Repeat("a", 100)},
		Reply: domain.Reply{Result: strings.Repeat("r", 1000)}}
	if !domain.ClipRecord(&rec, 500) || !rec.Clipped || rec.Reply.Result != "" || rec.Command.Args == "" {
		t.Errorf("clip to 500: %+v", rec)
	}
	if !domain.ClipRecord(&rec, 100) || rec.Command.Args != "" {
		t.Errorf("clip to 100: %+v", rec)
	}
	big := domain.JobRecord{Kind: domain.RecordCall, Expected: []string{strings.Repeat("s", 200)}}
	if domain.ClipRecord(&big, 100) {
		t.Error("a call record expecting more than fits was kept")
	}
}

// TestJobView: the view of a job is the call's, late replies counted;
// open while an expected server has no result before the deadline.
func TestJobView(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	job := &domain.Job{ID: "id"}
	job.Add(domain.JobRecord{Kind: domain.RecordCall, CallID: "id", Sent: t0, Deadline: t0.Add(time.Second),
		Target: "all", Known: true, Expected: []string{"a", "b"}})
	ack := domain.JobRecord{Kind: domain.RecordReply, CallID: "id", At: t0.Add(100 * time.Millisecond),
		Reply: domain.Reply{CallID: "id", Server: "b", Kind: domain.KindAck}}
	job.Add(ack)
	job.Add(domain.JobRecord{Kind: domain.RecordReply, CallID: "other", Reply: domain.Reply{CallID: "other", Server: "c"}})
	job.Add(domain.JobRecord{Kind: domain.RecordReply, CallID: "id", At: t0.Add(200 * time.Millisecond),
		Reply: domain.Reply{CallID: "id", Server: "a", Result: "1"}})

	v := job.View(t0.Add(500*time.Millisecond), time.Time{}, nil)
	if !v.Open || v.Summary.OK != 1 || v.Summary.Reason != domain.NotDone || len(v.Results) != 1 {
		t.Fatalf("before the deadline: %+v", v)
	}
	if v.Outcomes[1].Server != "b" || v.Outcomes[1].State != domain.StatePending || !v.Outcomes[1].Acked {
		t.Errorf("b before the deadline: %+v", v.Outcomes[1])
	}
	v = job.View(t0.Add(2*time.Second), time.Time{}, nil)
	if v.Open || v.Summary.TimedOut != 1 || v.Summary.Reason != domain.DoneDeadline {
		t.Errorf("after the deadline, b silent: %+v", v.Summary)
	}
	job.Add(domain.JobRecord{Kind: domain.RecordReply, CallID: "id", At: t0.Add(3 * time.Second),
		Reply: domain.Reply{CallID: "id", Server: "b", Result: "2"}})
	v = job.View(t0.Add(4*time.Second), time.Time{}, nil)
	if v.Open || v.Summary.OK != 2 || v.Summary.Reason != domain.DoneAllReplied || v.Results[1].At != 3*time.Second {
		t.Errorf("with b's late result: %+v", v)
	}
	v = job.View(t0.Add(4*time.Second), time.Time{}, func(r *domain.Reply) bool { return r.Server != "b" })
	if v.Summary.Forged != 2 || v.Summary.OK != 1 || len(v.Summary.ForgedClaims) != 1 {
		t.Errorf("b's replies refused: %+v", v.Summary)
	}
}

// TestJobViewWithoutCallRecord: the servers' records alone name the
// request; who was expected is unknown.
func TestJobViewWithoutCallRecord(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	req := &domain.Request{ID: "id", Target: "g", Command: domain.Command{Name: "echo"}, Sent: t0, Deadline: t0.Add(time.Second)}
	job := &domain.Job{ID: "id"}
	job.Add(domain.ReplyRecord(req, domain.Reply{CallID: "id", Server: "a", Result: "x"}, t0.Add(time.Millisecond)))
	if job.Recorded || job.Call.Target != "g" || job.Empty() {
		t.Fatalf("job %+v", job)
	}
	v := job.View(t0.Add(2*time.Second), time.Time{}, nil)
	if v.Summary.Expected != -1 || v.Summary.OK != 1 {
		t.Errorf("summary %+v", v.Summary)
	}
}
