package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/web"
)

// TestJobs: a call made from the page is kept as a job; the jobs page
// lists it with a link, and its page shows each server's result as text.
func TestJobs(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	tok := c.csrf(t)
	_, body := c.postCall(t, url.Values{"target": {"all"}, "command": {"echo " + payload}}, map[string]string{"X-CSRF-Token": tok})
	_, events, _ := started(t, body)
	var job string
	for _, ev := range c.events(t, events) {
		if ev.name == "begin" {
			var b struct{ Job string }
			if err := json.Unmarshal([]byte(ev.data), &b); err != nil {
				t.Fatal(err)
			}
			job = b.Job
		}
	}
	if !strings.HasPrefix(job, "/jobs/") {
		t.Fatalf("the call's begin event names no job: %q", job)
	}
	// Servers store a reply just after sending it: the store may be a
	// moment behind the call.
	var resp2 *http.Response
	var page string
	for range 100 {
		if resp2, page = c.get(t, job); strings.Count(page, "&lt;script&gt;window.pwned=1&lt;/script&gt;") >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp := resp2
	if resp.StatusCode != http.StatusOK || strings.Count(page, "&lt;script&gt;window.pwned=1&lt;/script&gt;") < 2 ||
		strings.Contains(page, "<script>window") || !strings.Contains(page, `data-server="q1"`) || !strings.Contains(page, `data-server="q2"`) {
		t.Fatalf("GET %s: %s; want q1 and q2 with the payload as text:\n%s", job, resp.Status, page)
	}
	var list string
	resp, list = c.get(t, "/jobs")
	if resp.StatusCode != http.StatusOK || !strings.Contains(list, `href="`+job+`"`) {
		t.Fatalf("GET /jobs: %s; want a link to %s:\n%s", resp.Status, job, list)
	}
	if resp, _ := c.get(t, "/jobs/nosuchjob"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /jobs/nosuchjob: %s; want 404", resp.Status)
	}
}

// TestJobsUnavailable: without a results store the jobs page says so.
func TestJobsUnavailable(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "", func(cfg *web.Config) { cfg.Jobs = nil })
	resp, page := c.get(t, "/jobs")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "jobs unavailable") {
		t.Fatalf("GET /jobs without a store: %s\n%s", resp.Status, page)
	}
}
