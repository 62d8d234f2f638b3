package app

import (
	"context"
	"sync"
)

// inflight counts background work (stores of job records) that may begin
// while someone waits for it to end: unlike sync.WaitGroup, starting work
// while wait runs is allowed; wait returns once the count is zero at some
// instant, or ctx ends. The zero value is ready to use; safe for
// concurrent use.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to zero; nil while n is zero
}

func (f *inflight) add() {
	f.mu.Lock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	if f.n--; f.n == 0 {
		close(f.zero)
		f.zero = nil
	}
	f.mu.Unlock()
}

// wait blocks until nothing is in flight or ctx ends, and returns ctx's
// error in that case.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	zero := f.zero
	f.mu.Unlock()
	if zero == nil {
		return nil
	}
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
