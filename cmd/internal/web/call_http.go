package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// startedCall answers a call started from the page.
type startedCall struct {
	ID     string `json:"id"`
	Events string `json:"events"` // its event stream
	Page   string `json:"page"`   // its page
}

// startCall starts the call the form asks for and answers where to
// follow it (202), or why not (400; 429 when too many run). A form posted
// without the script is sent to the call's page.
func (c *Console) startCall(w http.ResponseWriter, r *http.Request) {
	req, err := c.parseCall(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	l := newCallLog(req)
	if err := c.calls.add(l); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errBusy) {
			code = http.StatusTooManyRequests
		}
		writeJSON(w, code, errorBody{Error: err.Error()})
		return
	}
	c.wg.Go(func() {
		defer c.calls.ended()
		c.run(c.ctx, l)
	})
	page := "/calls/" + l.ID
	if r.Header.Get("X-CSRF-Token") == "" { // a plain form post
		http.Redirect(w, r, page, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusAccepted, startedCall{ID: l.ID, Events: "/api/calls/" + l.ID + "/events", Page: page})
}

// serveCallEvents streams a call's events from the start, or from after
// Last-Event-ID (the browser resumes with it), ending with "end".
func (c *Console) serveCallEvents(w http.ResponseWriter, r *http.Request) {
	l, ok := c.calls.get(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such call (the console keeps its last " + strconv.Itoa(MaxCalls) + ")"})
		return
	}
	n, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	es := startEvents(w)
	alive := time.NewTicker(keepAlive)
	defer alive.Stop()
	for {
		evs, done, more := l.since(n)
		for _, ev := range evs {
			n++
			if es.send(n, ev.name, ev.data) != nil {
				return
			}
		}
		if done {
			_ = es.send(n+1, "end", []byte("{}"))
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.ctx.Done():
			return
		case <-alive.C:
			if es.comment() != nil {
				return
			}
		case <-more:
		}
	}
}
