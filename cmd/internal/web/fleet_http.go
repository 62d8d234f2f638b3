package web

import (
	"net/http"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// serveFleetEvents streams the fleet: a "fleet" event at each reading of
// the register, until the page goes away or the console closes.
func (c *Console) serveFleetEvents(w http.ResponseWriter, r *http.Request) {
	stop := c.fleet.watch()
	defer stop()
	es := startEvents(w)
	alive := time.NewTicker(keepAlive)
	defer alive.Stop()
	var sent []byte
	for {
		data, next := c.fleet.latest()
		if data != nil && &data[0] != firstByte(sent) {
			if es.send(0, "fleet", data) != nil {
				return
			}
			sent = data
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
		case <-next:
		}
	}
}

func firstByte(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

// preview is who a call to a target would reach.
type preview struct {
	Target  string        `json:"target"`
	Servers []fleetServer `json:"servers"`
	Error   string        `json:"error,omitempty"`
}

// servePreview answers who a call to ?target= (with ?any=1, one worker of
// that group) would reach, by the fleet register as last read.
func (c *Console) servePreview(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("target")
	p := preview{Target: target, Servers: []fleetServer{}}
	if err := domain.ValidateTarget(target); err != nil {
		p.Error = "target: " + err.Error()
		writeJSON(w, http.StatusOK, p)
		return
	}
	v := c.fleet.current(r.Context())
	if reached := reachedBy(v.Servers, target, formBool(r.URL.Query().Get("any"))); reached != nil {
		p.Servers = reached
	}
	p.Error = v.Error
	writeJSON(w, http.StatusOK, p)
}

// formBool reads a checkbox or flag value.
func formBool(s string) bool { return s == "1" || s == "on" || s == "true" }
