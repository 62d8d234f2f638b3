package integration_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// TestGracefulShutdownFinishesInFlight: SIGTERM while a handler runs — the
// server stops taking requests, finishes the job within the grace period,
// replies, says goodbye and exits 0.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	q1 := f.server("q1", "--bind", "group1.#", "--grace", "5s")
	j := f.job("q1", "sleep|1500ms", 10*time.Second, false)
	j.await(t, domain.KindAck, 10*time.Second) // the job is running
	if err := q1.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := j.await(t, domain.KindResult, 10*time.Second); r.Server != "q1" || r.Error != "" || r.Result != "slept 1.5s" {
		t.Fatalf("the in-flight job was not finished: %+v", r)
	}
	if code := q1.ExitCode(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after a graceful stop (-1: still running)", code)
	}
	// Gone: a call to it now is not received (its queue is still bound).
	r := f.client("", "call", "--timeout", "1s", "q1", "echo|x")
	if r.Code != 2 {
		t.Fatalf("after shutdown: exit %d\n%s", r.Code, r.Out)
	}
}

// TestSecondSignalExitsAtOnce: a second signal during the grace period
// exits at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	q1 := f.server("q1", "--grace", "30s")
	f.job("q1", "sleep|15s", 20*time.Second, false).await(t, domain.KindAck, 10*time.Second) // the job is running
	if err := q1.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	q1.AwaitLog(t, "stopping: finishing requests in flight", 10*time.Second) // in its grace period
	start := time.Now()
	_ = q1.Process.Signal(syscall.SIGINT)
	code := q1.ExitCode(5 * time.Second)
	t.Logf("exit %d %s after the second signal", code, time.Since(start).Round(time.Millisecond))
	if code != 130 {
		t.Fatalf("exit %d after a second signal, want 130 (-1: still running)", code)
	}
}

// TestBalancedThousandWithAKilledWorker is the fault test "a server killed
// mid-job in --any mode": 1,000 load-balanced requests over three topicrpcd,
// one killed with SIGKILL a third of the way; none may be lost.
func TestBalancedThousandWithAKilledWorker(t *testing.T) {
	t.Parallel()
	f := newFleet(t, true)
	w3 := f.workers()[2]
	tr := f.space.Transport(t)
	c := app.NewClient(tr, app.ClientConfig{}, nil)

	const calls, callers = 1000, 16
	var next, okCount atomic.Int64
	var mu sync.Mutex
	per := map[string]int{}
	var lost []string
	var wg sync.WaitGroup
	killAt := int64(calls / 3)
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > calls {
					return
				}
				if i == killAt {
					_ = w3.Process.Kill()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				sum, outs, err := c.Do(ctx, "jobs", domain.Command{Name: "sleep", Args: "20ms"}, app.Balanced())
				cancel()
				mu.Lock()
				switch {
				case err != nil:
					lost = append(lost, fmt.Sprintf("call %d: %v", i, err))
				case sum.OK != 1:
					lost = append(lost, fmt.Sprintf("call %d: %+v", i, sum))
				default:
					okCount.Add(1)
					for _, o := range outs {
						if o.State == domain.StateOK {
							per[o.Server]++
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d balanced calls in %s with w3 killed at call %d: %d ok, %d lost, served %v",
		calls, time.Since(start).Round(time.Millisecond), killAt, okCount.Load(), len(lost), per)
	for i, l := range lost {
		if i < 5 {
			t.Error(l)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d requests lost", len(lost), calls)
	}
}
