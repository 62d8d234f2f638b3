package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCSRFRefusesStateChanges: a call is started only by a request that
// carries the session's CSRF token and comes from the console's own
// origin; every other one is refused (403) before it reaches the client.
func TestCSRFRefusesStateChanges(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	tok := c.csrf(t)
	form := url.Values{"target": {"all"}, "command": {"echo hi"}}
	withCSRF := func(v string) url.Values {
		f := url.Values{"target": {"all"}, "command": {"echo hi"}, "csrf": {v}}
		return f
	}
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers map[string]string
		noJar   bool
	}{
		{name: "no token", form: form},
		{name: "wrong header token", form: form, headers: map[string]string{"X-CSRF-Token": tok + "x"}},
		{name: "wrong form token", form: withCSRF("nope")},
		{name: "right token, no session", form: form, headers: map[string]string{"X-CSRF-Token": tok}, noJar: true},
		{name: "another origin", form: form, headers: map[string]string{"X-CSRF-Token": tok, "Origin": "http://evil.example"}},
		{name: "another site", form: form, headers: map[string]string{"X-CSRF-Token": tok, "Sec-Fetch-Site": "cross-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			if tc.noJar {
				cc.http = &http.Client{}
			}
			resp, body := cc.postCall(t, tc.form, tc.headers)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "refused") {
				t.Errorf("%s: %s %s; want 403 refused", tc.name, resp.Status, body)
			}
		})
	}
	if n := c.caller.n.Load(); n != 0 {
		t.Fatalf("%d call(s) reached the client from refused requests", n)
	}
	// The same request with the token, from the console's origin, runs.
	resp, body := c.postCall(t, form, map[string]string{"X-CSRF-Token": tok, "Origin": c.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a right request: %s %s", resp.Status, body)
	}
	_, events, _ := started(t, body)
	c.events(t, events)
	if n := c.caller.n.Load(); n != 1 {
		t.Fatalf("%d call(s) reached the client; want the 1 allowed", n)
	}
	// A plain form post (no script) carries the token in its csrf field.
	resp, body = c.postCall(t, withCSRF(tok), nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/calls/") {
		t.Fatalf("a form post with its csrf field: %s %s; want a redirect to the call's page", resp.Status, body)
	}
}

// TestLoopbackHostOnly: without a token, the console answers only
// requests for a loopback host name (a DNS-rebinding page has its own).
func TestLoopbackHostOnly(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	for host, want := range map[string]int{
		"127.0.0.1:8080": http.StatusOK, "localhost:8080": http.StatusOK, "[::1]:8080": http.StatusOK,
		"evil.example:8080": http.StatusMisdirectedRequest, "10.1.2.3:8080": http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest(http.MethodGet, c.URL+"/", nil)
		req.Host = host
		resp, body := c.do(t, req)
		if resp.StatusCode != want {
			t.Errorf("Host %s: %s; want %d\n%s", host, resp.Status, want, body)
		}
	}
}

// TestTokenRequired: a console with a token (any address beyond loopback)
// serves nothing without a session; the token, given once, buys one.
func TestTokenRequired(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token-for-the-test"
	c := newConsole(t, token)
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"/", "", http.StatusSeeOther}, // to /login
		{"/api/fleet", "", http.StatusUnauthorized},
		{"/api/preview?target=all", "", http.StatusUnauthorized},
		{"/jobs", "", http.StatusSeeOther},
		{"/?token=wrong", "", http.StatusSeeOther},         // to /login
		{"/", "console.example:8080", http.StatusSeeOther}, // any host, with a token
		{"/login", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, c.URL+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, _ := c.do(t, req)
		if resp.StatusCode != tc.want || tc.want == http.StatusSeeOther && resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s (host %q) without a session: %s to %q; want %d", tc.path, tc.host, resp.Status, resp.Header.Get("Location"), tc.want)
		}
	}
	resp, _ := c.postCall(t, url.Values{"target": {"all"}, "command": {"echo"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /api/calls without a session: %s; want 401", resp.Status)
	}
	// A wrong token at the login form is refused; the right one logs in.
	login := func(tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, c.URL+"/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, _ := c.do(t, req)
		return resp
	}
	if resp := login("wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a wrong token: %s; want 401", resp.Status)
	}
	if resp, body := c.get(t, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a wrong login gave a session: GET / %s\n%s", resp.Status, body)
	}
	if resp := login(token); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the token: %s; want 303 to /", resp.Status)
	}
	tok := c.csrf(t)
	if n := c.caller.n.Load(); n != 0 {
		t.Fatalf("%d call(s) before logging in", n)
	}
	resp, body := c.postCall(t, url.Values{"target": {"all"}, "command": {"echo"}}, map[string]string{"X-CSRF-Token": tok})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a call once logged in: %s %s", resp.Status, body)
	}
}

// TestTokenInTheAddress: the address printed at start (?token=) gives a
// session and sends the browser on without the token in its address.
func TestTokenInTheAddress(t *testing.T) {
	t.Parallel()
	const token = "another-s3cret-token"
	c := newConsole(t, token)
	resp, _ := c.get(t, "/?token="+token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("GET /?token=…: %s to %q; want 303 to /", resp.Status, resp.Header.Get("Location"))
	}
	if resp, body := c.get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / with the session: %s\n%s", resp.Status, body)
	}
}
