package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

func newServersCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "servers [TARGET]",
		Short: "List the live servers, or those a target reaches right now",
		Long: `List the live servers from their presence announcements: name, bindings, commands,
version, host, uptime and when each was last heard from. With TARGET, only the
servers a call to TARGET reaches, matched with the broker's topic rules.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("want at most one TARGET, got %d", len(args))
			}
			if len(args) == 1 {
				if err := domain.ValidateKey(args[0]); err != nil {
					return usageError("target: %v", err)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			members, err := o.roster(ctx)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				members = reached(members, args[0])
			}
			if o.output == "text" {
				printMembers(o, members)
			} else {
				enc := json.NewEncoder(o.io.Out)
				for _, m := range members {
					_ = enc.Encode(memberJSON(m))
				}
			}
			if len(args) == 1 && len(members) == 0 {
				return &exitError{code: ExitNoMatch}
			}
			return nil
		},
	}
}

// roster asks who is there and returns the answers.
func (o *options) roster(ctx context.Context) ([]domain.Member, error) {
	tm, err := o.transportModule(o.url)
	if err != nil {
		return nil, err
	}
	if isMemory(o.url) {
		tm = fx.Options(tm, app.ServerModule(DemoFleet()...))
	}
	var r *app.Roster
	a := fx.New(app.Logger(o.log, o.fxLog), tm, app.RosterModule(rosterQuiet), fx.Populate(&r),
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s ago\n", m.Server, strings.Join(m.Bindings, ","),
			strings.Join(m.Commands, ","), m.Version, m.Host,
			now.Sub(m.Started).Truncate(time.Second), now.Sub(m.LastSeen).Truncate(time.Millisecond))
	}
	_ = w.Flush()
	fmt.Fprintf(o.io.Out, "== %d server(s)\n", len(members))
}

type memberOut struct {
	Type       string    `json:"type"`
	Server     string    `json:"server"`
	Queue      string    `json:"queue"`
	Bindings   []string  `json:"bindings"`
	WorkGroups []string  `json:"work_groups"`
	Commands   []string  `json:"commands"`
	Version    string    `json:"version"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	LastSeen   time.Time `json:"last_seen"`
}

func memberJSON(m domain.Member) memberOut {
	return memberOut{Type: "server", Server: m.Server, Queue: m.Queue, Bindings: nonNil(m.Bindings),
		WorkGroups: nonNil(m.WorkGroups), Commands: nonNil(m.Commands), Version: m.Version, Host: m.Host,
		PID: m.PID, Started: m.Started, LastSeen: m.LastSeen}
}
