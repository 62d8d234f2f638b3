package faults_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// reportEnv names a file the figures are written to, when set.
const reportEnv = "TOPICRPC_FAULTS_REPORT"

// The broker is killed (SIGKILL) and restarted while a client calls three
// servers for 30 s, each call with a 2 s deadline. Every call must end: with
// all three answers, or with a clear error, never hanging past its deadline
// (allowing 5 s). A call may fail only while the fault lasts: it must not
// end before the kill, nor start after the servers answered again. The
// servers must serve again once the broker is back.
//
// The figures (calls, ok, failed, hung, seconds until the servers answer
// again) are logged in one line and written to $TOPICRPC_FAULTS_REPORT.
// The restarted node comes back empty (broker.sh boots it afresh): the
// servers declare their queues and bindings again, and until they have,
// calls fail with "no server matched" or find fewer servers bound.
func TestBrokerKilledAndRestarted(t *testing.T) {
	n := requireNode(t)
	const (
		runFor      = 30 * time.Second
		killAt      = 5 * time.Second
		restartAt   = 10 * time.Second
		callTimeout = 2 * time.Second
		hangSlack   = 5 * time.Second // a call not over this long past its deadline hangs
		pause       = 20 * time.Millisecond
		maxExtra    = 20 * time.Second // keep calling past runFor until the servers are back, at most this long
	)
	servers := []string{"q1", "q2", "q3"}
	log := testkit.LoggerAt(t, slog.LevelInfo)
	ns := amqptest.New(t, testkit.Broker{URL: n.URL, ManagementURL: n.ManagementURL}, "faults")
	newTransport := func(name string) *amqp.Transport {
		t.Helper()
		return ns.Transport(t, ns.WithManagement, func(c *amqp.Config) {
			c.ConnectionName, c.Logger = "faults-"+name, log.With("conn", name)
		})
	}
	for _, name := range servers {
		srv := app.NewServer(newTransport(name), app.ServerConfig{Name: name}, log.With("server", name))
		testkit.Start(t, srv, 5*time.Second)
	}
	client := app.NewClient(newTransport("client"), app.ClientConfig{}, log.With("client", "c"))
	if r := call(client, callTimeout, len(servers)); !r.ok {
		t.Fatalf("before the fault: %s", r.err)
	}

	// The fault, on its own schedule.
	begin := time.Now()
	var (
		mu                                  sync.Mutex
		killing, killedAt, restarting, upAt time.Time
		faultErr                            error
	)
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		time.Sleep(time.Until(begin.Add(killAt)))
		mu.Lock()
		killing = time.Now()
		mu.Unlock()
		err := n.Kill()
		mu.Lock()
		killedAt, faultErr = time.Now(), err
		mu.Unlock()
		if err != nil {
			return
		}
		time.Sleep(time.Until(begin.Add(restartAt)))
		mu.Lock()
		restarting = time.Now()
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err = n.Restart(ctx)
		cancel()
		mu.Lock()
		upAt, faultErr = time.Now(), err
		mu.Unlock()
	}()

	// The client's loop. Each call runs apart, so that one that hangs is
	// counted and left behind instead of stopping the loop.
	var (
		calls, ok, hung int
		failed          = map[string]int{}
		failures        []result  // each failed call, to check when it ran
		servedAgain     time.Time // the end of the first call after the restart began that all three answered
	)
	for {
		now := time.Now()
		mu.Lock()
		restarted, ferr := restarting, faultErr
		mu.Unlock()
		if ferr != nil {
			t.Fatalf("fault injection: %v", ferr)
		}
		if now.Sub(begin) >= runFor && (!servedAgain.IsZero() || now.Sub(begin) >= runFor+maxExtra) {
			break
		}
		calls++
		done := make(chan result, 1)
		go func() { done <- call(client, callTimeout, len(servers)) }()
		select {
		case r := <-done:
			switch {
			case r.ok:
				ok++
				if servedAgain.IsZero() && !restarted.IsZero() && r.start.After(restarted) {
					servedAgain = r.end
				}
			default:
				failed[normalize(r.err)]++
				failures = append(failures, r)
			}
		case <-time.After(callTimeout + hangSlack):
			hung++
			t.Errorf("call %d (started %v into the run) did not return %v after its deadline",
				calls, now.Sub(begin).Round(time.Millisecond), hangSlack)
		}
		time.Sleep(pause)
	}
	<-faultDone
	if faultErr != nil {
		t.Fatalf("fault injection: %v", faultErr)
	}

	nFailed := 0
	for _, c := range failed {
		nFailed += c
	}
	mu.Lock()
	recovery := "never"
	if !servedAgain.IsZero() {
		recovery = fmt.Sprintf("%.1fs", servedAgain.Sub(restarting).Seconds())
	}
	figures := fmt.Sprintf("broker killed at %.1fs, restarted at %.1fs (up after %.1fs): %d calls in %.0fs to %d servers, "+
		"%d completed ok, %d failed with a clear error (%d distinct), %d hung; all %d servers answered again %s after the restart began",
		killedAt.Sub(begin).Seconds(), restarting.Sub(begin).Seconds(), upAt.Sub(restarting).Seconds(),
		calls, time.Since(begin).Seconds(), len(servers), ok, nFailed, len(failed), hung, len(servers), recovery)
	mu.Unlock()
	t.Log(figures)
	errs := make([]string, 0, len(failed))
	for msg, c := range failed {
		errs = append(errs, fmt.Sprintf("%6d × %s", c, msg))
	}
	slices.Sort(errs)
	for _, e := range errs {
		t.Log(e)
	}
	if path := os.Getenv(reportEnv); path != "" {
		body := figures + "\n" + strings.Join(errs, "\n") + "\n"
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Errorf("write %s: %v", reportEnv, err)
		}
	}

	if hung > 0 {
		t.Errorf("%d calls hung", hung)
	}
	if servedAgain.IsZero() {
		t.Errorf("the servers did not all answer again within %v after the restart began", runFor+maxExtra-restartAt)
	}
	for msg := range failed {
		if strings.TrimSpace(msg) == "" {
			t.Error("a call failed without a message")
		}
	}
	// Failures only while the fault lasts: from the kill until the servers
	// answered again.
	mu.Lock()
	defer mu.Unlock()
	for _, r := range failures {
		at := fmt.Sprintf("a call from %.3fs to %.3fs", r.start.Sub(begin).Seconds(), r.end.Sub(begin).Seconds())
		switch {
		case r.end.Before(killing):
			t.Errorf("%s failed before the broker was killed at %.3fs: %s", at, killing.Sub(begin).Seconds(), r.err)
		case !servedAgain.IsZero() && r.start.After(servedAgain):
			t.Errorf("%s failed after the servers answered again at %.3fs: %s", at, servedAgain.Sub(begin).Seconds(), r.err)
		}
	}
}

// result is how one call ended.
type result struct {
	ok         bool   // every server answered ok
	err        string // else why not
	start, end time.Time
}

// call calls echo on every server ("all") and reports whether all want
// servers answered ok, or why not.
func call(c *app.Client, timeout time.Duration, want int) result {
	r := result{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := c.Call(ctx, "all", domain.Command{Name: "echo", Args: "fault"})
	if err != nil {
		r.err = err.Error()
		r.end = time.Now()
		return r
	}
	for range cl.Replies() {
	}
	s := cl.Summary()
	switch {
	case s.OK == want:
		r.ok = true
	default:
		r.err = fmt.Sprintf("call ended (%s): %d of %d servers ok, %d expected (bound), silent %v, failed %v",
			s.Reason, s.OK, want, s.Expected, s.SilentServers, s.FailedServers)
	}
	r.end = time.Now()
	return r
}

// normalize makes error messages comparable: addresses and call ids vary.
func normalize(msg string) string {
	msg = addrRE.ReplaceAllString(msg, "ADDR")
	msg = idRE.ReplaceAllString(msg, "ID")
	return msg
}

var (
	addrRE = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)
	idRE   = regexp.MustCompile(`[A-Za-z0-9]{10,}-\d+`)
)
