package testkit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

var _ ports.ReplySink = testkit.Replies{}

func TestInbox(t *testing.T) {
	t.Parallel()
	in := testkit.NewInbox[int](3, "numbers")
	for i := range 3 {
		in.Put(i)
	}
	if got := in.Take(t, 2, time.Second); got[0] != 0 || got[1] != 1 {
		t.Fatalf("Take = %v, want [0 1]", got)
	}
	if got := in.Next(t, time.Second); got != 2 {
		t.Fatalf("Next = %d, want 2", got)
	}
	in.None(t, 10*time.Millisecond)

	o := end(t, func(tb testing.TB) { in.Take(tb, 1, 10*time.Millisecond) })
	if !strings.Contains(o.failed, "got 0 numbers") {
		t.Errorf("Take of nothing: failed %q", o.failed)
	}
	in.Put(7)
	if o := end(t, func(tb testing.TB) { in.None(tb, time.Second) }); !strings.Contains(o.failed, "unexpected numbers: 7") {
		t.Errorf("None with a value: failed %q", o.failed)
	}
}

func TestInboxFullPanics(t *testing.T) {
	t.Parallel()
	r := testkit.NewReplies(1)
	r.Deliver(domain.Reply{Server: "a"})
	defer func() {
		if recover() == nil {
			t.Error("a second reply into a Replies of one did not panic")
		}
	}()
	r.Deliver(domain.Reply{Server: "b"})
}

func TestWithin(t *testing.T) {
	t.Parallel()
	ch := make(chan int, 1)
	ch <- 3
	if got := testkit.Within(t, ch, time.Second, "three"); got != 3 {
		t.Errorf("Within = %d, want 3", got)
	}
	if o := end(t, func(tb testing.TB) { testkit.Within(tb, ch, 10*time.Millisecond, "four") }); !strings.Contains(o.failed, "four: nothing within 10ms") {
		t.Errorf("Within of nothing: failed %q", o.failed)
	}
}
