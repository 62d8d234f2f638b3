package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/cmd/internal/web"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// countingCaller counts the calls that reach the client.
type countingCaller struct {
	*app.Client
	n atomic.Int32
}

func (c *countingCaller) Call(ctx context.Context, target string, cmd domain.Command, opts ...app.CallOption) (*app.Call, error) {
	c.n.Add(1)
	return c.Client.Call(ctx, target, cmd, opts...)
}

// console is a console on an in-memory fleet: q1 bound to g1.#, q2 to
// g2.#, both to all.#.
type console struct {
	*httptest.Server
	caller *countingCaller
	client *app.Client  // the console's
	http   *http.Client // with a cookie jar
}

func newConsole(t testing.TB, token string, tune ...func(*web.Config)) *console {
	t.Helper()
	tr := testkit.MemoryTransport(t)
	log := slog.New(slog.DiscardHandler)
	fleet := app.NewFleet(tr, []app.ServerConfig{
		{Name: "q1", Bindings: []string{"g1.#"}}, {Name: "q2", Bindings: []string{"g2.#"}},
	}, log)
	testkit.Start(t, fleet, time.Second)
	client := app.NewClient(tr, app.ClientConfig{Timeout: 2 * time.Second, RegisterTTL: -1, Record: true}, log)
	caller := &countingCaller{Client: client}
	jobs, err := client.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Caller: caller, Fleet: client, Jobs: jobs, Token: token, Log: log, Namespace: "test"}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { c.Close(); srv.Close() })
	jar, _ := cookiejar.New(nil)
	return &console{Server: srv, caller: caller, client: client, http: &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *console) do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *console) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.URL+path, nil)
	return c.do(t, req)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf opens the page (getting a session) and returns its CSRF token.
func (c *console) csrf(t testing.TB) string {
	t.Helper()
	resp, body := c.get(t, "/")
	m := csrfMeta.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || m[1] == "" {
		t.Fatalf("GET /: %s, no CSRF token in:\n%s", resp.Status, body)
	}
	return m[1]
}

// postCall posts a call form with the headers given.
func (c *console) postCall(t testing.TB, form url.Values, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/api/calls", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return c.do(t, req)
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// events reads a call's event stream to its end.
func (c *console) events(t testing.TB, path string) []sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(testkit.Context(t, 10*time.Second), http.MethodGet, c.URL+path, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []sseEvent
	var ev sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		case line == "" && ev.name != "":
			evs = append(evs, ev)
			if ev.name == "end" {
				return evs
			}
			ev = sseEvent{}
		}
	}
	t.Fatalf("the stream %s ended without an end event: %v (%v)", path, evs, sc.Err())
	return nil
}

// started decodes the answer to a started call.
func started(t testing.TB, body string) (id, events, page string) {
	t.Helper()
	var s struct{ ID, Events, Page string }
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.ID == "" {
		t.Fatalf("not a started call: %q (%v)", body, err)
	}
	return s.ID, s.Events, s.Page
}
