package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// templates are the console's pages, each with the layout.
type templates struct {
	pages map[string]*template.Template
}

func parseTemplates() (*templates, error) {
	funcs := template.FuncMap{
		"ms":   func(f float64) string { return fmt.Sprintf("%.0f ms", f) },
		"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return time.Since(t).Round(time.Second).String() + " ago"
		},
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		p, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web console templates: %w", err)
		}
		t.pages[n[len("templates/"):]] = p
	}
	return t, nil
}

// pageData is what every page's layout needs.
type pageData struct {
	Title     string
	Namespace string
	CSRF      string
}

func (c *Console) pageData(r *http.Request, title string) pageData {
	d := pageData{Title: title, Namespace: c.cfg.Namespace}
	if s := sessionOf(r); s.id != "" {
		d.CSRF = c.csrfToken(s)
	}
	return d
}

// render writes the page named name with data; html/template escapes
// every value as text.
func (c *Console) render(w http.ResponseWriter, code int, name string, data any) {
	var b bytes.Buffer
	if err := c.tmpl.pages[name].Execute(&b, data); err != nil {
		c.log.Error("render "+name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

func staticHandler() http.Handler {
	return http.FileServerFS(staticFiles)
}

// consolePage is the main page: the call form and the fleet.
type consolePage struct {
	pageData
	Timeout string
	Fleet   fleetView
}

func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "console.html", consolePage{pageData: c.pageData(r, "Console"),
		Timeout: c.cfg.Timeout.String(), Fleet: c.fleet.current(r.Context())})
}

// callPage is one call, rendered by the server.
type callPage struct {
	pageData
	Call    *callLog
	Replies []replyView
	Summary *summaryView
	Failure string
	Done    bool
}

func (c *Console) serveCallPage(w http.ResponseWriter, r *http.Request) {
	l, ok := c.calls.get(r.PathValue("id"))
	if !ok {
		http.Error(w, fmt.Sprintf("no such call (the console keeps its last %d)", MaxCalls), http.StatusNotFound)
		return
	}
	replies, sum, failure, done := l.page()
	c.render(w, http.StatusOK, "call.html", callPage{pageData: c.pageData(r, "Call "+l.Target+" "+l.Command.String()),
		Call: l, Replies: replies, Summary: sum, Failure: failure, Done: done})
}

// loginPage asks for the token.
type loginPage struct {
	pageData
	Error string
}

func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "login.html", loginPage{pageData: c.pageData(r, "Log in")})
}

// login trades the token for a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !c.tokenOK(r.PostFormValue("token")) {
		c.render(w, http.StatusUnauthorized, "login.html", loginPage{pageData: c.pageData(r, "Log in"), Error: "wrong token"})
		return
	}
	c.setSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
