package integration_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// TestMetricsEndpoint runs topicrpcd with --metrics-addr on RabbitMQ, calls
// it, and scrapes it: requests are counted by command and outcome (an
// unknown command under one label), timed, acknowledged; /readyz says
// ready while it serves, not ready while its broker account is gone (its
// connection closed, every redial refused), and ready again once it
// reconnected, which is counted.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	user := "metrics-" + f.space.ID()
	all := amqp.Permissions{Configure: ".*", Write: ".*", Read: ".*"}
	userURL := brokerUser(t, f, user, all)
	addr := testkit.ClosedAddr(t)
	// Calls are not recorded: the test counts this server's connections,
	// and writes to the results store are another matter.
	proc := bins.Start(t, "topicrpcd", "--url", userURL, "--namespace", f.ns, "--name", "m1",
		"--metrics-addr", addr, "--ack-after", "0")
	base := "http://" + addr

	for range 3 {
		if r := f.client("", "call", "--record=false", "--timeout", "5s", "m1", "echo|hi"); r.Code != 0 {
			t.Fatalf("call echo: exit %d\n%s%s\ntopicrpcd:\n%s", r.Code, r.Out, r.Err, proc.Stderr.String())
		}
	}
	if r := f.client("", "call", "--record=false", "--timeout", "5s", "m1", "no-such-command"); r.Code != 1 {
		t.Fatalf("call no-such-command: exit %d, want 1\n%s%s", r.Code, r.Out, r.Err)
	}
	mfs := scrape(t, base)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"topicrpc_server_requests_total", map[string]string{"command": "echo", "outcome": "ok"}, 3},
		{"topicrpc_server_requests_total", map[string]string{"command": "_unknown", "outcome": "unknown_command"}, 1},
		{"topicrpc_server_request_duration_seconds", map[string]string{"command": "echo"}, 3},
		{"topicrpc_server_requests_in_flight", nil, 0},
		{"topicrpc_server_replies_sent_total", map[string]string{"kind": "ack", "result": "ok"}, 4},
		{"topicrpc_server_register_writes_total", map[string]string{"result": "ok"}, 1},
		{"topicrpc_transport_reconnects_total", nil, 0},
	} {
		if got, ok := sample(mfs, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found: %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if got, ok := sample(mfs, "topicrpc_server_presence_messages_total", map[string]string{"kind": "hello", "result": "ok"}); !ok || got < 1 {
		t.Errorf("hellos counted: %v, want 1 or more", got)
	}
	if _, ok := sample(mfs, "topicrpc_build_info", nil); !ok {
		t.Error("no topicrpc_build_info")
	}
	if _, ok := sample(mfs, "go_goroutines", nil); !ok {
		t.Error("no go_goroutines: the Go collector is not registered")
	}
	expectStatus(t, base+"/healthz", http.StatusOK)
	expectStatus(t, base+"/readyz", http.StatusOK)

	// The account's password changes and its connection is closed: every
	// redial is refused, so the server stays disconnected.
	management(t, f, http.MethodPut, "/api/users/"+user, map[string]string{"password": "changed", "tags": ""})
	closeUserConnections(t, f, user)
	awaitStatus(t, base+"/readyz", http.StatusServiceUnavailable, 15*time.Second)
	proc.AwaitLog(t, "amqp: reconnecting", 10*time.Second)
	expectStatus(t, base+"/readyz", http.StatusServiceUnavailable) // still: nothing to reconnect with
	expectStatus(t, base+"/healthz", http.StatusOK)

	brokerUser(t, f, user, all) // the password it has
	awaitStatus(t, base+"/readyz", http.StatusOK, 30*time.Second)
	mfs = scrape(t, base)
	for _, name := range []string{"topicrpc_transport_connection_lost_total", "topicrpc_transport_reconnects_total"} {
		if got, _ := sample(mfs, name, nil); got != 1 {
			t.Errorf("%s = %v, want 1", name, got)
		}
	}
	if r := f.client("", "call", "--record=false", "--timeout", "5s", "m1", "echo|again"); r.Code != 0 {
		t.Fatalf("call after the reconnection: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	// Stopped before the account is deleted (the test's cleanups run
	// after this function).
	_ = proc.Process.Signal(syscall.SIGTERM)
	if code := proc.ExitCode(20 * time.Second); code != 0 {
		t.Fatalf("topicrpcd exit %d on SIGTERM:\n%s", code, proc.Stderr.String())
	}
}

// scrape reads base/metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return mfs
}

// sample returns the value of the series of name whose labels include
// labels (a histogram's sample count), and whether there is one.
func sample(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	return testkit.Sample(mfs[name], labels)
}

func status(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func expectStatus(t *testing.T, u string, want int) {
	t.Helper()
	if got, body := status(t, u); got != want {
		t.Fatalf("GET %s: %d %q, want %d", u, got, body, want)
	}
}

func awaitStatus(t *testing.T, u string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, body := status(t, u)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %q after %v, want %d", u, got, body, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// management calls the management API and fails the test unless it
// answers 2xx.
func management(t *testing.T, f *fleet, method, path string, payload ...any) []byte {
	t.Helper()
	api := strings.TrimSuffix(f.b.Kit().Management(t), "/")
	var data []byte
	if len(payload) > 0 {
		data, _ = json.Marshal(payload[0])
	}
	req, err := http.NewRequestWithContext(t.Context(), method, api+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	return body
}

// closeUserConnections closes the connections of user the broker lists,
// waiting for it to list one (its statistics may lag).
func closeUserConnections(t *testing.T, f *fleet, user string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for closed := 0; closed == 0; time.Sleep(100 * time.Millisecond) {
		var conns []struct {
			Name string `json:"name"`
			User string `json:"user"`
		}
		if err := json.Unmarshal(management(t, f, http.MethodGet, "/api/connections"), &conns); err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			if c.User == user {
				management(t, f, http.MethodDelete, "/api/connections/"+url.PathEscape(c.Name))
				closed++
			}
		}
		if closed == 0 && time.Now().After(deadline) {
			t.Fatalf("the broker lists no connection of %s", user)
		}
	}
}
