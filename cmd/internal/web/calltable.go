package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
)

// errBusy: MaxRunning calls are running already.
var errBusy = errors.New("too many calls running; wait for one to end")

// callTable holds the console's calls, at most MaxCalls of them: a new
// call pushes out the oldest one that is done. Safe for concurrent use.
type callTable struct {
	mu      sync.Mutex
	byID    map[string]*callLog
	order   []string // ids, oldest first
	running int
}

func newCallTable() *callTable { return &callTable{byID: map[string]*callLog{}} }

// add registers a new call, refusing it with errBusy when MaxRunning run.
func (t *callTable) add(l *callLog) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running >= MaxRunning {
		return errBusy
	}
	for len(t.order) >= MaxCalls {
		i := 0
		for i < len(t.order) && !t.byID[t.order[i]].isDone() {
			i++
		}
		if i == len(t.order) {
			return errBusy
		}
		delete(t.byID, t.order[i])
		t.order = append(t.order[:i], t.order[i+1:]...)
	}
	t.byID[l.ID] = l
	t.order = append(t.order, l.ID)
	t.running++
	return nil
}

// ended counts a call out of the running ones.
func (t *callTable) ended() {
	t.mu.Lock()
	t.running--
	t.mu.Unlock()
}

func (t *callTable) get(id string) (*callLog, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byID[id]
	return l, ok
}

// newCallID is a random id: a call's address cannot be guessed.
func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
