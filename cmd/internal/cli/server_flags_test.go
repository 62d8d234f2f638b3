package cli_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
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

// TestServerMetricsAddr: with --metrics-addr, topicrpcd on the memory
// transport serves /metrics, counting a request, and says it is ready.
func TestServerMetricsAddr(t *testing.T) {
	t.Parallel()
	addr := testkit.ClosedAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- runServer(ctx, nil, "--url=memory://", "--name=s1", "--metrics-addr="+addr) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, body := get("/readyz"); code != http.StatusOK; code, body = get("/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q after 10s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `topicrpc_build_info{`) || !strings.Contains(body, "topicrpc_server_requests_in_flight 0") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	cancel()
	if r := <-done; r.code != 0 {
		t.Errorf("exit %d\n%s", r.code, r.err)
	}
	if code, _ := get("/healthz"); code != 0 {
		t.Errorf("/healthz answers %d after exit", code)
	}
}
