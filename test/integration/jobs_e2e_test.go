package integration_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// jsonLines splits JSON Lines output into its objects' type and fields.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q (%v)\n%s", l, err, out)
		}
		lines = append(lines, m)
	}
	return lines
}

// replyResults maps each reply line's server to its result.
func replyResults(lines []map[string]any) map[string]string {
	got := map[string]string{}
	for _, m := range lines {
		if m["type"] == "reply" {
			r, _ := m["result"].(string)
			got[m["server"].(string)] = r
		}
	}
	return got
}

// TestJobsEndToEnd, on RabbitMQ with the programs as an operator runs
// them: call --async prints only the job id and exits 0 at once; job
// --wait shows both servers' 832040 as call would. A call with a 500 ms
// deadline to servers taking 1.5 s (finishing their work, deadline or
// not) ends with both timed out; job then shows both late results ok.
// jobs lists both, newest first; an unknown id exits 4.
func TestJobsEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	f.bound("fast.#", "a1")
	f.bound("fast.#", "a2")

	async := f.client("", "call", "--async", "fast", "fib|30")
	id := strings.TrimSpace(async.Out)
	if async.Code != 0 || id == "" || strings.Contains(id, "\n") || async.Err != "" {
		t.Fatalf("call --async: exit %d, stdout %q, stderr %q; want the job id alone", async.Code, async.Out, async.Err)
	}
	if async.Took > 5*time.Second {
		t.Errorf("call --async took %s: it must not wait for replies", async.Took)
	}
	waited := f.client("", "job", "--wait", "--timeout", "20s", "-o", "json", id)
	lines := jsonLines(t, waited.Out)
	got := replyResults(lines)
	s := lastSummary(t, waited.Out)
	if waited.Code != 0 || got["a1"] != "832040" || got["a2"] != "832040" || s.OK != 2 || s.Expected != 2 || s.Reason != "all_replied" {
		t.Fatalf("job --wait: exit %d, results %v, summary %+v\n%s", waited.Code, got, s, waited.Err)
	}
	if call := lines[len(lines)-1]["call"]; call != id {
		t.Errorf("job's summary names call %v, want %s", call, id)
	}

	// Late replies: servers of the test's own, whose "slow" command
	// finishes after the caller's deadline.
	fleet := app.NewFleet(f.space.Transport(t), []app.ServerConfig{
		{Name: "l1", Bindings: []string{"late.#"}}, {Name: "l2", Bindings: []string{"late.#"}},
	}, nil)
	if err := fleet.Handle("slow", func(context.Context, string) (string, error) {
		time.Sleep(1500 * time.Millisecond)
		return "done", nil
	}); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, fleet, 0)
	call := f.client("", "call", "--timeout", "500ms", "-o", "json", "late", "slow")
	cs := lastSummary(t, call.Out)
	callID, _ := jsonLines(t, call.Out)[0]["call"].(string)
	if call.Code != 2 || cs.OK != 0 || callID == "" {
		t.Fatalf("call with a 500 ms deadline: exit %d, summary %+v\n%s%s", call.Code, cs, call.Out, call.Err)
	}
	late := f.client("", "job", "--wait", "--timeout", "20s", "-o", "json", callID)
	ls := lastSummary(t, late.Out)
	if late.Code != 0 || ls.OK != 2 || states(ls)["l1"] != "ok" || states(ls)["l2"] != "ok" {
		t.Fatalf("job of the late call: exit %d, summary %+v\n%s%s", late.Code, ls, late.Out, late.Err)
	}
	again := f.client("", "job", callID)
	if again.Code != 0 || strings.Count(again.Out, " ok ") != 2 || !strings.Contains(again.Out, "done") {
		t.Errorf("job (text) of the late call: exit %d\n%s%s", again.Code, again.Out, again.Err)
	}

	list := f.client("", "jobs", "-o", "json")
	jobs := jsonLines(t, list.Out)
	if list.Code != 0 || len(jobs) != 2 || jobs[0]["id"] != callID || jobs[1]["id"] != id {
		t.Fatalf("jobs: exit %d, want %s then %s\n%s%s", list.Code, callID, id, list.Out, list.Err)
	}
	if jobs[0]["ok"] != 2.0 || jobs[0]["target"] != "late" || jobs[1]["async"] != true || jobs[1]["command"] != "fib|30" {
		t.Errorf("jobs: %v", jobs)
	}
	text := f.client("", "jobs", "--target", "fast")
	if text.Code != 0 || !strings.Contains(text.Out, id) || strings.Contains(text.Out, callID) || !strings.Contains(text.Out, "2 ok") {
		t.Errorf("jobs --target fast: exit %d\n%s%s", text.Code, text.Out, text.Err)
	}

	unknown := f.client("", "job", id[:len(id)-1]+"9")
	if unknown.Code != 4 || strings.Count(strings.TrimSpace(unknown.Err), "\n") != 0 || !strings.Contains(unknown.Err, "no such job") {
		t.Errorf("unknown job: exit %d, stderr %q", unknown.Code, unknown.Err)
	}
}
