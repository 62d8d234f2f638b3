package cli_test

import (
	"context"
	"testing"
	"time"
)

// TestServerAckAfter: --ack-after takes any duration under the progress
// interval, 0 and negative ones (acknowledge at once) included; the bad ones
// are in TestUsageErrorsAreOneLine.
func TestServerAckAfter(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"20ms", "0", "-1s", "999ms"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			// It serves until the context ends.
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if r := runServer(ctx, nil, "--url=memory://", "--name=s1", "--ack-after="+v); r.code != 0 {
				t.Errorf("--ack-after=%s: exit %d\n%s%s", v, r.code, r.out, r.err)
			}
		})
	}
}
