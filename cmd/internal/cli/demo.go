package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// demoSession is the classic session the demo replays.
var demoSession = [...]struct{ target, command string }{
	{"group1", "echo|hello group1 !"},
	{"group2", "echo|hello group2 !"},
	{"all", "fib|30"},
}

func newDemoCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Start an in-memory fleet (q1 in group1, q2 in group2) and replay the classic session",
		Long: `Start an in-memory fleet (q1 bound to group1.#, q2 to group2.#, both to all.#)
and replay the classic session: echo to group1, echo to group2, fib 30 to all.
When stdin is a terminal, a shell on the same fleet opens afterwards; otherwise
the demo exits by itself with the worst exit code of the session. No broker needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return o.withClientOn(ctx, MemoryURL, func(ctx context.Context, c *app.Client) error {
				r, err := o.renderer()
				if err != nil {
					return err
				}
				worst := ExitOK
				for _, line := range demoSession {
					if o.output == "text" {
						fmt.Fprintf(o.io.Out, "%s%s %s\n", prompt, line.target, line.command)
					}
					command, err := domain.ParseCommand(line.command)
					if err != nil {
						return err
					}
					cctx, cancel := context.WithTimeout(ctx, o.timeout)
					_, _, code := callLine(cctx, c, r, line.target, command)
					worst = max(worst, code)
					cancel()
				}
				if o.io.Interactive {
					return o.shell(ctx, c)
				}
				if worst != ExitOK {
					return &exitError{code: worst}
				}
				return nil
			})
		},
	}
}
