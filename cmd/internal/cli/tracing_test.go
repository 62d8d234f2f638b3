package cli_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestCallExportsItsSpanWithOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set,
// topicrpc call exports its call span to that collector over OTLP/HTTP
// before it exits; without, nothing is sent. (Not parallel: the
// exporter reads the process's environment.)
func TestCallExportsItsSpanWithOTLP(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
		posts int
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		posts++
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer collector.Close()

	if r := run(t, "", "call", "--url", "memory://", "q1", "echo|untraced"); r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	mu.Lock()
	if posts != 0 {
		t.Errorf("%d exports without OTEL_* set", posts)
	}
	mu.Unlock()

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	if r := run(t, "", "call", "--url", "memory://", "q1", "echo|traced"); r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "topicrpc.call" {
		t.Errorf("spans exported: %v, want [topicrpc.call]", names)
	}
}
