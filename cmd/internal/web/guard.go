package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/topicrpc/topicrpc/app"
)

// contentSecurityPolicy lets the page run only the script and style it is
// served with: no inline script, no eval, no framing, no form posted
// elsewhere. A result that got into the page as HTML could not run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// maxForm bounds a posted form: a command's longest args
// (app.DefaultMaxArgs), percent-encoded, and the rest.
const maxForm = 3*app.DefaultMaxArgs + 64<<10

// guard runs every request through the console's defences, in order:
// security headers, the Host check, authentication, CSRF.
func (c *Console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if c.cfg.Token == "" && !loopbackHost(r.Host) {
			// Without a token the console trusts whoever reaches it on
			// loopback; a page elsewhere whose name resolves to 127.0.0.1
			// (DNS rebinding) would come with its own Host.
			refuse(w, r, http.StatusMisdirectedRequest, "this console answers only to localhost, 127.0.0.1 or [::1]")
			return
		}
		s, ok := c.session(r)
		public := r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/static/")
		if !ok && c.cfg.Token != "" && !public {
			if tok := r.URL.Query().Get("token"); tok != "" && r.Method == http.MethodGet && c.tokenOK(tok) {
				// The address printed at start: a session, then the page
				// without the token in its address.
				c.setSession(w, r)
				u := *r.URL
				q := u.Query()
				q.Del("token")
				u.RawQuery = q.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			refuse(w, r, http.StatusUnauthorized, "log in first: open the address topicrpc web printed, with its token")
			return
		}
		if !ok && r.Method == http.MethodGet && !public {
			s = c.setSession(w, r) // loopback without a token: a session for the CSRF token
		}
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := c.checkCSRF(r, s, ok); err != "" {
				refuse(w, r, http.StatusForbidden, "refused: "+err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// safeMethod: the methods that change nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF says why a state-changing request is refused, or "". Browsers
// send Origin on every POST and Sec-Fetch-Site on every request; both
// must name this origin when present. The request must carry the
// session's CSRF token in the X-CSRF-Token header or the csrf form field.
// The login form is the one POST without a session: it carries no token
// (it has none yet) but must come from this origin.
func (c *Console) checkCSRF(r *http.Request, s session, ok bool) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return "a request from another site (Sec-Fetch-Site: " + site + ")"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "a request from another origin (" + o + ")"
		}
	}
	if r.URL.Path == "/login" {
		return ""
	}
	if !ok {
		return "no session: reload the page"
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	if !c.csrfOK(s, tok) {
		return "a missing or wrong CSRF token: reload the page"
	}
	return ""
}

// loopbackHost reports whether host (a Host header, maybe with a port)
// names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// refuse answers a refused request: JSON for the API, text otherwise.
func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, code, errorBody{Error: msg})
		return
	}
	http.Error(w, msg, code)
}
