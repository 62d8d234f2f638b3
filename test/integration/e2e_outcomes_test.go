package integration_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/test/internal/bintest"
)

// TestEndToEndFrozenServerIsNamed: a server frozen with SIGSTOP is reported
// as silent, by name, with exit 2, at the deadline — not before, not after.
func TestEndToEndFrozenServerIsNamed(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	q2 := f.bound("group1.#", "q1", "q2", "q3")[1]
	if err := q2.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q2.Process.Signal(syscall.SIGCONT) }()
	r := f.client("", "call", "--timeout", "2s", "-o", "json", "group1", "echo|are you there")
	sum := lastJSON(t, r.Out)
	t.Logf("frozen q2 reported after %.0f ms (process %s) against a 2s deadline", sum["elapsed_ms"], r.Took.Round(time.Millisecond))
	if r.Code != 2 || sum["reason"] != "deadline" || fmt.Sprint(sum["silent_servers"]) != "[q2]" || sum["ok"] != 2.0 {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	// The summary's elapsed time stops at the deadline; the process's own
	// time says when it really ended: not before the deadline, and not long
	// after (connecting, and closing, on a loaded machine).
	if r.Took < 2*time.Second || r.Took > 5*time.Second {
		t.Errorf("the process ended after %s; the deadline was 2s", r.Took.Round(time.Millisecond))
	}
	if !strings.Contains(r.Out, `{"server":"q2","state":"not_received"`) {
		t.Errorf("q2 should be not received:\n%s", r.Out)
	}
	// The same in text: the server not received is named.
	r = f.client("", "call", "--timeout", "1s", "group1", "echo|again")
	if r.Code != 2 || !strings.Contains(r.Out, "not received: q2") {
		t.Fatalf("exit %d\n%s", r.Code, r.Out)
	}
}

// TestEndToEndLongJobIsTimedOutNotSilent: a server still working at the
// deadline acknowledged the request, so it is timed out, not silent.
func TestEndToEndLongJobIsTimedOutNotSilent(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	f.server("q1", "--bind", "group1.#")
	r := f.client("", "call", "--timeout", "1500ms", "-o", "json", "q1", "sleep|5s")
	if r.Code != 2 || !strings.Contains(r.Out, `{"server":"q1","state":"timed_out"`) {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = f.client("", "call", "--timeout", "1500ms", "q1", "sleep|5s")
	if !strings.Contains(r.Out, "timed out: q1") || strings.Contains(r.Out, "not received") {
		t.Fatalf("text output:\n%s", r.Out)
	}
}

// TestEndToEndGroupCallEndsEarly: with every server answering, calls end
// long before the deadline, whether the expected set comes from the
// management API or from presence.
func TestEndToEndGroupCallEndsEarly(t *testing.T) {
	t.Parallel()
	for _, mgmt := range []bool{true, false} {
		f := newFleet(t, mgmt)
		f.bound("web.#", "a", "b", "c")
		r := f.client("", "call", "--timeout", "10s", "-o", "json", "web", "fib|30")
		sum := lastJSON(t, r.Out)
		t.Logf("management API %v: 3-server call ended after %.1f ms (process %s), reason %v, against a 10s deadline",
			mgmt, sum["elapsed_ms"], r.Took.Round(time.Millisecond), sum["reason"])
		if r.Code != 0 || sum["ok"] != 3.0 || sum["expected"] != 3.0 || sum["reason"] != "all_replied" {
			t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
		}
		if r.Took > 3*time.Second {
			t.Errorf("took %s", r.Took)
		}
	}
}

// TestEndToEndServersSeesJoinAndLeave: `topicrpc servers` lists a server
// that just started and, once it stopped, lists it as stopped; `servers
// --live` (presence) drops it at once.
func TestEndToEndServersSeesJoinAndLeave(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	f.server("q1", "--bind", "group1.#", "--heartbeat", "1s")
	r := f.client("", "servers")
	if r.Code != 0 || !hasState(r.Out, "q1", "up") || !strings.Contains(r.Out, "group1.#") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	q3 := f.server("q3", "--bind", "group3.#", "--heartbeat", "1s")
	r = f.client("", "servers")
	if !hasState(r.Out, "q1", "up") || !hasState(r.Out, "q3", "up") {
		t.Fatalf("after q3 joined:\n%s", r.Out)
	}
	r = f.client("", "servers", "group3")
	if !hasLine(r.Out, "q3") || hasLine(r.Out, "q1") {
		t.Fatalf("servers group3:\n%s", r.Out)
	}
	if err := q3.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	q3.ExitCode(20 * time.Second)
	r = f.client("", "servers")
	if !hasState(r.Out, "q1", "up") || !hasState(r.Out, "q3", "stopped") {
		t.Fatalf("after q3 left:\n%s", r.Out)
	}
	r = f.client("", "servers", "--live")
	if !hasLine(r.Out, "q1") || hasLine(r.Out, "q3") {
		t.Fatalf("servers --live after q3 left:\n%s", r.Out)
	}
	if r := f.client("", "servers", "group9"); r.Code != 3 {
		t.Fatalf("servers group9: exit %d", r.Code)
	}
}

// hasState reports whether the servers listing has server in state.
func hasState(out, server, state string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == server && f[1] == state {
			return true
		}
	}
	return false
}

// TestEndToEndAnySurvivesAKilledWorker: 100 load-balanced calls spread over
// three servers; one is killed mid-job; no request is lost.
func TestEndToEndAnySurvivesAKilledWorker(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	w3 := f.workers()[2]

	const calls, parallel = 100, 10
	served := make([]string, calls)
	codes := make([]int, calls)
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	var once sync.Once
	var held *job // the job w3 was running when it was killed
	who := regexp.MustCompile(`(?m)^(w\d)\s+ok\s`)
	for i := range calls {
		wg.Add(1)
		sem <- struct{}{}
		if i == calls/3 {
			once.Do(func() { held = killMidJob(t, f, w3, "w3") })
		}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := bins.Command("topicrpc", "call", "--url", f.b.URL, "--namespace", f.ns,
				"--timeout", "20s", "--any", "jobs", fmt.Sprintf("sleep|%dms", 150+i%5*10))
			out, err := cmd.Output()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
			if m := who.FindStringSubmatch(string(out)); m != nil {
				served[i] = m[1]
			}
		}()
	}
	wg.Wait()
	per := map[string]int{}
	lost := 0
	for i := range calls {
		if codes[i] != 0 || served[i] == "" {
			lost++
			t.Errorf("call %d: exit %d, served by %q", i, codes[i], served[i])
		}
		per[served[i]]++
	}
	t.Logf("100 balanced calls: %v; lost %d", per, lost)
	if per["w1"] == 0 || per["w2"] == 0 {
		t.Errorf("work not spread: %v", per)
	}
	// The job w3 held when it died went to another worker.
	if r := held.await(t, domain.KindResult, 20*time.Second); r.Error != "" || r.Server == "w3" || r.Server == "" {
		t.Errorf("the job w3 was running when it was killed: %+v, want a result from another worker", r)
	}
}

// killMidJob kills the worker name with SIGKILL while it runs a job: it sends
// balanced jobs to its group until name acknowledges one (its handler is
// running), kills it then, and returns that job.
func killMidJob(t *testing.T, f *fleet, p *bintest.Proc, name string) *job {
	t.Helper()
	for range 50 {
		j := f.job("jobs", "sleep|300ms", 30*time.Second, true)
		ack := j.await(t, domain.KindAck, 20*time.Second)
		if ack.Server == name {
			if err := p.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			return j
		}
		j.await(t, domain.KindResult, 20*time.Second)
	}
	t.Fatalf("%s took none of 50 balanced jobs", name)
	return nil
}
