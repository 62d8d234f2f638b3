package testkit

import (
	"testing"
	"time"
)

// Inbox is a bounded queue of the values a test waits for (replies,
// presence messages), in the order they were put. Put never blocks the
// goroutine delivering: a full Inbox panics, as a test that lost values
// must not pass. It is safe for concurrent use.
type Inbox[T any] struct {
	ch   chan T
	what string
}

// NewInbox returns an Inbox holding up to size values; what names them,
// in the plural, in failure messages ("replies").
func NewInbox[T any](size int, what string) *Inbox[T] {
	return &Inbox[T]{ch: make(chan T, size), what: what}
}

// Put adds v; it panics if the Inbox is full.
func (in *Inbox[T]) Put(v T) {
	select {
	case in.ch <- v:
	default:
		panic("testkit.Inbox: too many " + in.what)
	}
}

// C is the channel the values arrive on, for a select of the test's own.
func (in *Inbox[T]) C() <-chan T { return in.ch }

// Next waits up to timeout for the next value, and fails the test without
// one.
func (in *Inbox[T]) Next(tb testing.TB, timeout time.Duration) T {
	tb.Helper()
	return in.Take(tb, 1, timeout)[0]
}

// Take waits up to timeout for the next n values, and fails the test
// without them.
func (in *Inbox[T]) Take(tb testing.TB, n int, timeout time.Duration) []T {
	tb.Helper()
	got := make([]T, 0, n)
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case v := <-in.ch:
			got = append(got, v)
		case <-deadline:
			tb.Fatalf("got %d %s within %v, want %d: %+v", len(got), in.what, timeout, n, got)
		}
	}
	return got
}

// None checks that no value arrives within wait, and fails the test if one
// does.
func (in *Inbox[T]) None(tb testing.TB, wait time.Duration) {
	tb.Helper()
	select {
	case v := <-in.ch:
		tb.Fatalf("unexpected %s: %+v", in.what, v)
	case <-time.After(wait):
	}
}
