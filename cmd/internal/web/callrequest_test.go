package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCallForm: the form's options shape the call as the command line's
// flags do, and a form that cannot be a call is refused in one line.
func TestCallForm(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	tok := c.csrf(t)
	for _, tc := range []struct {
		form    url.Values
		code    int
		summary string // in the summary's text
	}{
		{url.Values{"target": {"all"}, "command": {"echo x"}, "any": {"1"}}, http.StatusAccepted, " 1 ok"},
		{url.Values{"target": {"all"}, "command": {"echo x"}, "expect": {"1"}}, http.StatusAccepted, "(count)"},
		{url.Values{"target": {"all"}, "command": {"echo x"}, "timeout": {"3s"}}, http.StatusAccepted, "2 expected, 2 ok"},
		{url.Values{"target": {"all"}, "command": {"echo x"}, "any": {"1"}, "expect": {"1"}}, http.StatusBadRequest, "does not go with expect"},
		{url.Values{"target": {"all"}, "command": {"echo x"}, "timeout": {"1ms"}}, http.StatusBadRequest, "want a duration"},
		{url.Values{"target": {"all"}, "command": {"echo x"}, "expect": {"-1"}}, http.StatusBadRequest, "want a number"},
		{url.Values{"target": {""}, "command": {"echo x"}}, http.StatusBadRequest, "empty target"},
		{url.Values{"target": {"all"}, "command": {""}}, http.StatusBadRequest, ""},
		{url.Values{"target": {strings.Repeat("x", 300)}, "command": {"echo"}}, http.StatusBadRequest, "target"},
	} {
		resp, body := c.postCall(t, tc.form, map[string]string{"X-CSRF-Token": tok})
		if resp.StatusCode != tc.code {
			t.Errorf("%v: %s %s; want %d", tc.form, resp.Status, body, tc.code)
			continue
		}
		if tc.code != http.StatusAccepted {
			if !strings.Contains(body, tc.summary) || strings.Count(strings.TrimSpace(body), "\n") > 0 {
				t.Errorf("%v: %s; want one line with %q", tc.form, body, tc.summary)
			}
			continue
		}
		_, events, _ := started(t, body)
		var text string
		for _, ev := range c.events(t, events) {
			if ev.name == "summary" || ev.name == "failure" {
				var s struct{ Text, Error string }
				_ = json.Unmarshal([]byte(ev.data), &s)
				text = s.Text + s.Error
			}
		}
		if !strings.Contains(text, tc.summary) {
			t.Errorf("%v: summary %q; want %q in it", tc.form, text, tc.summary)
		}
	}
}

// TestCallFormTooLarge: a form over the limit is refused in one line.
func TestCallFormTooLarge(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	tok := c.csrf(t)
	resp, body := c.postCall(t, url.Values{"target": {"all"}, "command": {"echo " + strings.Repeat("%", 4<<20)}}, map[string]string{"X-CSRF-Token": tok})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "too large") {
		t.Fatalf("a 12 MB form: %s %s; want 400, too large", resp.Status, body)
	}
}
