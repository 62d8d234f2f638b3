package testkit

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer that one goroutine (a logger, a process's
// output) may write while another reads it. The zero value is empty and
// ready to use; it must not be copied after first use.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
