package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionCookie names the cookie holding a session.
const sessionCookie = "topicrpc_session"

// sessionLife is how long a session lasts.
const sessionLife = 12 * time.Hour

// session is a browser's session: a random id and when it was given,
// signed with the console's secret (so nothing is kept per session, and a
// restart ends them all).
type session struct {
	id     string
	issued time.Time
}

// setSession gives the browser a new session and returns it.
func (c *Console) setSession(w http.ResponseWriter, r *http.Request) session {
	var b [18]byte
	_, _ = rand.Read(b[:])
	s := session{id: base64.RawURLEncoding.EncodeToString(b[:]), issued: time.Now()}
	v := s.id + "." + strconv.FormatInt(s.issued.Unix(), 10)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v + "." + c.mac("session|"+v), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionLife / time.Second)})
	return s
}

// session returns the request's session, and false when it has none that
// this console gave and that is still valid.
func (c *Console) session(r *http.Request) (session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return session{}, false
	}
	v := parts[0] + "." + parts[1]
	if !hmac.Equal([]byte(parts[2]), []byte(c.mac("session|"+v))) {
		return session{}, false
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	s := session{id: parts[0], issued: time.Unix(unix, 0)}
	if time.Since(s.issued) > sessionLife {
		return session{}, false
	}
	return s, true
}

// csrfToken is the session's CSRF token, which the page sends back with
// every state-changing request.
func (c *Console) csrfToken(s session) string { return c.mac("csrf|" + s.id) }

func (c *Console) csrfOK(s session, tok string) bool {
	return tok != "" && hmac.Equal([]byte(tok), []byte(c.csrfToken(s)))
}

// tokenOK reports whether tok is the console's token, in constant time.
func (c *Console) tokenOK(tok string) bool {
	return c.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(c.cfg.Token)) == 1
}

func (c *Console) mac(s string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionKey keys the request's session in its context.
type sessionKey struct{}

// sessionOf is the session guard found or gave for r; zero on the pages
// that need none (login, static files).
func sessionOf(r *http.Request) session {
	s, _ := r.Context().Value(sessionKey{}).(session)
	return s
}
