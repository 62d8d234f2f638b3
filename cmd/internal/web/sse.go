package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// keepAlive is how often an idle event stream sends a comment, so that
// proxies and the browser keep it open.
const keepAlive = 15 * time.Second

// eventStream writes server-sent events. Not safe for concurrent use.
type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startEvents answers r with an event stream.
func startEvents(w http.ResponseWriter) *eventStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &eventStream{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

// send writes one event: its id (0: none), its name and its data, one
// line of JSON (a JSON encoding has no raw newline).
func (s *eventStream) send(id int, name string, data []byte) error {
	var b strings.Builder
	if id > 0 {
		fmt.Fprintf(&b, "id: %d\n", id)
	}
	fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data)
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

// comment writes a comment line, which keeps the stream alive.
func (s *eventStream) comment() error {
	if _, err := s.w.Write([]byte(": keep-alive\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// errorBody is an API error.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
