package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// A call that found servers down and stopped names each with when it was
// last seen, in text and JSON, and exits 2: none of them ran the command.
func TestSummaryNamesDownAndStoppedServers(t *testing.T) {
	t.Parallel()
	start := time.Now()
	seen := start.Add(-90 * time.Second)
	a := domain.NewAggregator(domain.Expectation{Known: true, Servers: []string{"w2"}, Absent: []domain.Absence{
		{Server: "w3", State: domain.StateDown, LastSeen: seen},
		{Server: "w4", State: domain.StateStopped, LastSeen: seen},
	}}, start, start.Add(time.Second))
	a.Observe(domain.Reply{Server: "w2", Kind: domain.KindResult, Result: "x"}, start)
	s := a.Finish(start)
	c := callInfo{id: "c1", target: "gb", command: domain.Command{Name: "echo", Args: "x"}}

	if code := ExitCode(s); code != ExitSilent {
		t.Errorf("exit %d, want %d", code, ExitSilent)
	}
	var text bytes.Buffer
	(&textRenderer{w: &text, width: noTerminal}).summary(c, s, a.Outcomes())
	for _, want := range []string{"3 expected, 1 ok, 0 failed, 1 down, 1 stopped in",
		"   down: w3 (last seen ", "   stopped: w4 (last seen ", "1m30s ago)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}

	var js bytes.Buffer
	(&jsonRenderer{enc: json.NewEncoder(&js), errw: &text}).summary(c, s, a.Outcomes())
	var got struct {
		Down, Stopped  int
		DownServers    []string `json:"down_servers"`
		StoppedServers []string `json:"stopped_servers"`
		ExitCode       int      `json:"exit_code"`
		Servers        []struct {
			Server, State string
			LastSeen      *time.Time `json:"last_seen"`
		}
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Down != 1 || got.Stopped != 1 || got.DownServers[0] != "w3" || got.StoppedServers[0] != "w4" || got.ExitCode != ExitSilent {
		t.Errorf("JSON summary %s", js.String())
	}
	for _, srv := range got.Servers {
		if absent := srv.State == "down" || srv.State == "stopped"; absent != (srv.LastSeen != nil) {
			t.Errorf("%s (%s): last_seen %v", srv.Server, srv.State, srv.LastSeen)
		} else if absent && !srv.LastSeen.Equal(seen.UTC()) {
			t.Errorf("%s: last_seen %v, want %v", srv.Server, srv.LastSeen, seen)
		}
	}
}
