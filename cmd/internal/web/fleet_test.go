package web_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/web"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// onlyPresence is a presence view that sees only some servers.
type onlyPresence []string

func (p onlyPresence) Members() []domain.Member {
	var ms []domain.Member
	for _, n := range p {
		ms = append(ms, domain.Member{Presence: domain.Presence{Server: n}})
	}
	return ms
}

// TestFleetStream: the fleet's event stream sends the register's servers
// with their state; one up by the register but silent to presence is
// unresponsive.
func TestFleetStream(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "", func(cfg *web.Config) { cfg.Presence = onlyPresence{"q1"} })
	c.csrf(t) // a session
	req, _ := http.NewRequestWithContext(testkit.Context(t, 10*time.Second), http.MethodGet, c.URL+"/api/fleet", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("GET /api/fleet: %s, %s", resp.Status, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v struct {
			Servers []struct{ Name, State string }
			Counts  map[string]int
			Error   string
		}
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("fleet event %q: %v", data, err)
		}
		got := map[string]string{}
		for _, s := range v.Servers {
			got[s.Name] = s.State
		}
		if len(got) != 2 || got["q1"] != "up" || got["q2"] != "unresponsive" || v.Counts["unresponsive"] != 1 || v.Error != "" {
			t.Fatalf("fleet event %s; want q1 up, q2 unresponsive", data)
		}
		return
	}
	t.Fatalf("the fleet stream ended without an event: %v", sc.Err())
}

// TestCallStreamResumes: a browser reconnecting with Last-Event-ID gets
// the events after it, not the ones it had.
func TestCallStreamResumes(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	tok := c.csrf(t)
	_, body := c.postCall(t, map[string][]string{"target": {"all"}, "command": {"echo hi"}}, map[string]string{"X-CSRF-Token": tok})
	_, events, _ := started(t, body)
	all := c.events(t, events)
	req, _ := http.NewRequestWithContext(testkit.Context(t, 10*time.Second), http.MethodGet, c.URL+events, nil)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var ids, names []string
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			ids = append(ids, id)
		}
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			names = append(names, name)
		}
	}
	if len(ids) == 0 || ids[0] != "2" || len(names) != len(all)-1 || names[0] != all[1].name {
		t.Fatalf("resumed after event 1: ids %v, events %v; want from id 2, the events after %s of %v", ids, names, all[0].name, all)
	}
}
