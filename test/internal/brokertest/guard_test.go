package brokertest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		fn      func() (int, error)
		want    int
		wantErr string
	}{
		{"value", func() (int, error) { return 7, nil }, 7, ""},
		{"error", func() (int, error) { return 0, boom }, 0, "boom"},
		{"panic", func() (int, error) { panic("rootless Docker not found") }, 0, "panicked: rootless Docker not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := brokertest.GuardInt(context.Background(), tc.fn, nil)
			if got != tc.want || (err == nil) != (tc.wantErr == "") ||
				(err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got (%d, %v), want (%d, error containing %q)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestGuardGivesUpAndAbandons(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	abandoned := make(chan int, 1)
	start := time.Now()
	_, err := brokertest.GuardInt(ctx, func() (int, error) {
		<-release // a call that ignores its context
		return 42, nil
	}, func(v int) { abandoned <- v })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	close(release)
	select {
	case v := <-abandoned:
		if v != 42 {
			t.Fatalf("abandoned %d, want 42", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late result was not handed to abandon")
	}
}
