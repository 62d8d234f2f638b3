package web

import (
	"encoding/json"
	"sync"
	"time"
)

// event is one server-sent event of a call; its id is its place in the
// call's log, from 1.
type event struct {
	name string
	data []byte
}

// callLog is one call made from the page: what was asked, and every event
// so far, kept so that a page that reconnects (Last-Event-ID) or opens the
// call later sees all of it. Appended by the goroutine running the call,
// read by any number of streams. Safe for concurrent use.
type callLog struct {
	CallRequest
	ID      string
	Started time.Time

	mu      sync.Mutex
	events  []event
	changed chan struct{} // closed at the next append, or at the end
	done    bool
	// What the call page renders.
	replies []replyView
	summary *summaryView
	failure string
}

func newCallLog(req CallRequest) *callLog {
	return &callLog{CallRequest: req, ID: newCallID(), Started: time.Now(), changed: make(chan struct{})}
}

// add appends an event with v as its data.
func (l *callLog) add(name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(errorBody{Error: "encode " + name + ": " + err.Error()})
		name = "failure"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch x := v.(type) {
	case replyView:
		l.replies = append(l.replies, x)
	case *summaryView:
		l.summary = x
	case errorBody:
		l.failure = x.Error
	}
	l.events = append(l.events, event{name: name, data: data})
	close(l.changed)
	l.changed = make(chan struct{})
}

// finish marks the call over: streams end after its last event.
func (l *callLog) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *callLog) isDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done
}

// since returns the events after the first n, whether the call is over,
// and a channel closed when there is more.
func (l *callLog) since(n int) ([]event, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > len(l.events) {
		n = len(l.events)
	}
	return l.events[n:len(l.events):len(l.events)], l.done, l.changed
}

// page returns what the call page shows.
func (l *callLog) page() ([]replyView, *summaryView, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]replyView(nil), l.replies...), l.summary, l.failure, l.done
}
