package web

import (
	"context"
	"slices"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// standingUnresponsive: up by the register (its queue has a consumer), but
// silent to presence: frozen or overloaded. The command line's servers
// says the same.
const standingUnresponsive = "unresponsive"

// fleetServer is one server as the page shows it.
type fleetServer struct {
	Name       string    `json:"name"`
	State      string    `json:"state"` // up, unresponsive, down, stopped
	Bindings   []string  `json:"bindings"`
	WorkGroups []string  `json:"work_groups"`
	Commands   []string  `json:"commands"`
	Version    string    `json:"version"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	LastSeen   time.Time `json:"last_seen"`
}

// fleetView is one reading of the fleet register.
type fleetView struct {
	Servers []fleetServer `json:"servers"`
	// Counts is how many servers stand in each state.
	Counts map[string]int `json:"counts"`
	// Error says why the register could not be read; Servers are then
	// those of the last reading that worked (Read tells when).
	Error string `json:"error,omitempty"`
	// Read is when Servers were read; Now is when this view was made.
	Read time.Time `json:"read"`
	Now  time.Time `json:"now"`
}

// readFleet reads the register once, marking as unresponsive the up
// servers that presence does not see.
func (c *Console) readFleet(ctx context.Context) ([]fleetServer, error) {
	regs, err := c.cfg.Fleet.Census(ctx)
	if err != nil {
		return nil, err
	}
	var live map[string]bool
	if c.cfg.Presence != nil {
		live = map[string]bool{}
		for _, m := range c.cfg.Presence.Members() {
			live[m.Server] = true
		}
	}
	out := make([]fleetServer, len(regs))
	for i, r := range regs {
		st := string(r.Standing)
		if r.Standing == app.StandingUp && live != nil && !live[r.Server] {
			st = standingUnresponsive
		}
		out[i] = fleetServer{Name: r.Server, State: st, Bindings: nonNil(r.Bindings), WorkGroups: nonNil(r.WorkGroups),
			Commands: nonNil(r.Commands), Version: r.Version, Host: r.Host, PID: r.PID, Started: r.Started, LastSeen: r.LastSeen()}
	}
	return out, nil
}

// reachedBy returns the servers of the view a call to target reaches, by
// the broker's topic rules; with balanced, the workers of group target.
func reachedBy(servers []fleetServer, target string, balanced bool) []fleetServer {
	var out []fleetServer
	for _, s := range servers {
		if balanced && slices.Contains(s.WorkGroups, target) ||
			!balanced && slices.ContainsFunc(s.Bindings, func(b string) bool { return domain.Match(b, target) }) {
			out = append(out, s)
		}
	}
	return out
}

func countStates(servers []fleetServer) map[string]int {
	n := map[string]int{"up": 0, standingUnresponsive: 0, "down": 0, "stopped": 0}
	for _, s := range servers {
		n[s.State]++
	}
	return n
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
