package testkit_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

func TestLockedBuffer(t *testing.T) {
	t.Parallel()
	var b testkit.LockedBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if n, err := b.Write([]byte("ab")); n != 2 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("ab", 400) {
		t.Errorf("got %d bytes, want 800 of ab", len(got))
	}
}
