package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

func newServersCmd(o *options) *cobra.Command {
	var down, live bool
	cmd := &cobra.Command{
		Use:   "servers [TARGET]",
		Short: "List the fleet's servers, up, down or stopped, or those a target reaches",
		Long: `List every server of the fleet register — each server that ever started and
was not forgotten — with its state now: up (serving), down (gone without a
goodbye: killed, crashed, its connection lost) or stopped (said goodbye), and
when it was last seen. With TARGET, only the servers a call to TARGET reaches,
matched with the broker's topic rules. --down lists only the servers that
would not answer: down, stopped, or unresponsive (consuming requests but silent
to a presence query: frozen, overloaded); --live lists the presence announcements of
the servers that answer right now instead.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("want at most one TARGET, got %d", len(args))
			}
			if len(args) == 1 {
				if err := domain.ValidateTarget(args[0]); err != nil {
					return usageError("target: %v", err)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if live {
				return o.listLive(ctx, args)
			}
			return o.withRegister(ctx, true, func(ctx context.Context, reg ports.Register, roster *app.Roster) error {
				return o.printCensus(ctx, reg, roster, down, args)
			})
		},
	}
	cmd.Flags().BoolVar(&down, "down", false, "only the servers that would not answer: down, stopped or unresponsive")
	cmd.Flags().BoolVar(&live, "live", false, "the presence announcements of the servers answering now, instead of the register")
	return cmd
}

// printServers prints list as a table, or one JSON object per server.
func printServers[T any](o *options, list []T, table func(*options, []T), toJSON func(T) registeredOut) {
	if o.output == "text" {
		table(o, list)
		return
	}
	enc := json.NewEncoder(o.io.Out)
	for _, x := range list {
		_ = enc.Encode(toJSON(x))
	}
}

// printCensus prints the fleet register's servers, or with a target
// (args[0]) those it reaches: exit 3 when none does. With a roster, up
// servers that did not answer it are unresponsive; with down, only the
// servers that would not answer are listed.
func (o *options) printCensus(ctx context.Context, reg ports.Register, roster *app.Roster, down bool, args []string) error {
	k, err := o.keys(o.trustServers, "trust-servers")
	if err != nil {
		return err
	}
	servers, err := app.CensusTrusting(ctx, reg, k.trust())
	if err != nil {
		return o.transportError("read the fleet register", o.url, err)
	}
	if roster != nil {
		unresponsive(servers, roster)
	}
	servers = slices.DeleteFunc(servers, func(r app.Registered) bool {
		return down && r.Standing == app.StandingUp ||
			len(args) == 1 && !reaches(r.Bindings, args[0])
	})
	printServers(o, servers, printRegistered, registeredJSON)
	if len(args) == 1 && len(servers) == 0 && !down {
		return &exitError{code: ExitNoMatch}
	}
	return nil
}

// listLive prints the presence announcements, with TARGET the servers it reaches.
func (o *options) listLive(ctx context.Context, args []string) error {
	members, err := o.roster(ctx)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		members = reached(members, args[0])
	}
	printServers(o, members, printMembers, memberJSON)
	if len(args) == 1 && len(members) == 0 {
		return &exitError{code: ExitNoMatch}
	}
	return nil
}

// unresponsive marks the up servers that did not answer the roster's
// presence query: consuming, but not answering (frozen, overloaded).
func unresponsive(servers []app.Registered, roster *app.Roster) {
	answered := map[string]bool{}
	for _, m := range roster.Members() {
		answered[m.Server] = true
	}
	for i := range servers {
		if servers[i].Standing == app.StandingUp && !answered[servers[i].Server] {
			servers[i].Standing = standingUnresponsive
		}
	}
}

// standingUnresponsive: up by the register (its queue has a consumer), but
// silent to a presence query.
const standingUnresponsive app.Standing = "unresponsive"

func reaches(bindings []string, target string) bool {
	return slices.ContainsFunc(bindings, func(b string) bool { return domain.Match(b, target) })
}

func printRegistered(o *options, servers []app.Registered) {
	w := tabwriter.NewWriter(o.io.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATE\tLAST SEEN\tBINDINGS\tCOMMANDS\tVERSION\tHOST\tPID")
	now := time.Now()
	count := map[app.Standing]int{}
	for _, r := range servers {
		count[r.Standing]++
		seen := "now"
		if r.Standing != app.StandingUp {
			seen = now.Sub(r.LastSeen()).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", safe(r.Server), r.Standing, seen,
			safe(strings.Join(r.Bindings, ",")), safe(strings.Join(r.Commands, ",")), safe(r.Version), safe(r.Host), r.PID)
	}
	_ = w.Flush()
	fmt.Fprintf(o.io.Out, "== %d server(s): %d up, %d unresponsive, %d down, %d stopped\n", len(servers),
		count[app.StandingUp], count[standingUnresponsive], count[app.StandingDown], count[app.StandingStopped])
}

type registeredOut struct {
	Type       string     `json:"type"`
	Server     string     `json:"server"`
	State      string     `json:"state"`
	Queue      string     `json:"queue"`
	Bindings   []string   `json:"bindings"`
	WorkGroups []string   `json:"work_groups"`
	Commands   []string   `json:"commands"`
	Version    string     `json:"version"`
	Host       string     `json:"host"`
	PID        int        `json:"pid"`
	Joined     time.Time  `json:"joined,omitzero"`
	Started    time.Time  `json:"started"`
	LastSeen   time.Time  `json:"last_seen"`
	Left       *time.Time `json:"left,omitempty"`
}

func registeredJSON(r app.Registered) registeredOut {
	out := registeredOut{Type: "server", Server: r.Server, State: string(r.Standing), Queue: r.Queue,
		Bindings: nonNil(r.Bindings), WorkGroups: nonNil(r.WorkGroups), Commands: nonNil(r.Commands),
		Version: r.Version, Host: r.Host, PID: r.PID, Joined: r.Joined, Started: r.Started, LastSeen: r.LastSeen()}
	if !r.Left.IsZero() {
		out.Left = &r.Left
	}
	return out
}

// roster asks who is there and returns the answers.
func (o *options) roster(ctx context.Context) ([]domain.Member, error) {
	tm, err := o.transportModule(o.url)
	if err != nil {
		return nil, err
	}
	k, err := o.keys(o.trustServers, "trust-servers")
	if err != nil {
		return nil, err
	}
	tm = o.withDemoFleet(tm, o.url, k.fleet)
	var r *app.Roster
	a := fx.New(app.Logger(o.log, o.fxLog), tm, app.RosterModuleTrusting(rosterQuiet, k.trust()), fx.Populate(&r),
		fx.StartTimeout(startTimeout), fx.StopTimeout(stopTimeout))
	if err := a.Err(); err != nil {
		return nil, o.transportError("", o.url, err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := a.Start(sctx); err != nil {
		return nil, o.transportError("ask who is there", o.url, err)
	}
	members := r.Members()
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancelStop()
	_ = a.Stop(stopCtx)
	return members, nil
}

func reached(members []domain.Member, target string) []domain.Member {
	var out []domain.Member
	for _, m := range members {
		for _, b := range m.Bindings {
			if domain.Match(b, target) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func printMembers(o *options, members []domain.Member) {
	w := tabwriter.NewWriter(o.io.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tBINDINGS\tCOMMANDS\tVERSION\tHOST\tUPTIME\tLAST SEEN")
	now := time.Now()
	for _, m := range members {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s ago\n", safe(m.Server), safe(strings.Join(m.Bindings, ",")),
			safe(strings.Join(m.Commands, ",")), safe(m.Version), safe(m.Host),
			now.Sub(m.Started).Truncate(time.Second), now.Sub(m.LastSeen).Truncate(time.Millisecond))
	}
	_ = w.Flush()
	fmt.Fprintf(o.io.Out, "== %d server(s)\n", len(members))
}

// memberJSON is a live server (servers --live) in the same shape as a
// registered one, up.
func memberJSON(m domain.Member) registeredOut {
	return registeredOut{Type: "server", Server: m.Server, State: string(app.StandingUp), Queue: m.Queue,
		Bindings: nonNil(m.Bindings), WorkGroups: nonNil(m.WorkGroups), Commands: nonNil(m.Commands),
		Version: m.Version, Host: m.Host, PID: m.PID, Started: m.Started, LastSeen: m.LastSeen}
}
