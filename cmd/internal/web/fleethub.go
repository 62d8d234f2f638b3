package web

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// fleetHub reads the fleet register every interval while someone watches
// (a page's event stream), and hands each reading to every watcher. One
// reading serves them all, however many pages are open.
//
// Watchers never block the hub: each waits on a channel closed at the
// next reading and then takes the latest, so a slow page skips readings
// rather than queueing them.
type fleetHub struct {
	read  func(context.Context) ([]fleetServer, error)
	every time.Duration

	mu       sync.Mutex
	view     fleetView
	data     []byte        // view as JSON
	next     chan struct{} // closed at the next reading
	watchers int
	wake     chan struct{} // a watcher arrived
}

func newFleetHub(read func(context.Context) ([]fleetServer, error), every time.Duration) *fleetHub {
	return &fleetHub{read: read, every: every, next: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// run reads the register while anyone watches, until ctx ends.
func (h *fleetHub) run(ctx context.Context) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		h.mu.Lock()
		n := h.watchers
		h.mu.Unlock()
		if n > 0 {
			h.refresh(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
	}
}

// refresh reads the register once (at most one interval long) and
// publishes the view.
func (h *fleetHub) refresh(ctx context.Context) fleetView {
	rctx, cancel := context.WithTimeout(ctx, max(h.every, 5*time.Second))
	servers, err := h.read(rctx)
	cancel()
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.view
	v.Now, v.Error = now, ""
	if err != nil {
		v.Error = "the fleet register cannot be read: " + err.Error()
	} else {
		v.Servers, v.Read = servers, now
	}
	if v.Servers == nil {
		v.Servers = []fleetServer{}
	}
	v.Counts = countStates(v.Servers)
	h.view = v
	h.data, _ = json.Marshal(v)
	close(h.next)
	h.next = make(chan struct{})
	return v
}

// current returns the latest view, reading the register first when the
// view is older than the interval (nobody watching).
func (h *fleetHub) current(ctx context.Context) fleetView {
	h.mu.Lock()
	v := h.view
	h.mu.Unlock()
	if time.Since(v.Now) <= h.every {
		return v
	}
	return h.refresh(ctx)
}

// watch counts a watcher in until the returned func is called.
func (h *fleetHub) watch() (stop func()) {
	h.mu.Lock()
	h.watchers++
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return func() {
		h.mu.Lock()
		h.watchers--
		h.mu.Unlock()
	}
}

// latest returns the latest view as JSON (nil before the first reading)
// and a channel closed at the next one.
func (h *fleetHub) latest() ([]byte, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.data, h.next
}
