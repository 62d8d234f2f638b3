package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// payload is a result that would run script if it were read as HTML.
const payload = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>`

// TestResultsAreText: a result holding HTML travels in the call's events
// as the exact text, and the call's page shows it escaped, never as
// markup.
func TestResultsAreText(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	tok := c.csrf(t)
	resp, body := c.postCall(t, url.Values{"target": {"all"}, "command": {"echo " + payload}}, map[string]string{"X-CSRF-Token": tok})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/calls: %s %s", resp.Status, body)
	}
	_, events, page := started(t, body)
	var results []string
	for _, ev := range c.events(t, events) {
		if ev.name != "reply" {
			continue
		}
		var r struct{ Server, State, Result string }
		if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
			t.Fatal(err)
		}
		results = append(results, r.Result)
	}
	if len(results) != 2 || results[0] != payload || results[1] != payload {
		t.Fatalf("replies' results: %q; want the payload twice, exactly", results)
	}
	resp, html := c.get(t, page)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", page, resp.Status)
	}
	for _, bad := range []string{"<script>window", "<img src=x", "<b>bold"} {
		if strings.Contains(html, bad) {
			t.Errorf("the call's page holds %q as markup:\n%s", bad, html)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
		t.Errorf("the call's page does not show the payload as text:\n%s", html)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q: want scripts from the console only", csp)
	}
}

// TestScriptWritesNoHTML: the page's script shows everything as text: it
// never assigns HTML (innerHTML, outerHTML, insertAdjacentHTML,
// document.write).
func TestScriptWritesNoHTML(t *testing.T) {
	t.Parallel()
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), sink) {
			t.Errorf("static/app.js uses %s", sink)
		}
	}
}
