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
			return o.withClientOn(cmd.Context(), MemoryURL, func(ctx context.Context, c *app.Client) error {
				worst, err := o.replay(ctx, c)
				if err != nil || worst == ExitCancelled {
					return errOr(err, worst)
				}
				if o.io.Interactive {
					// Ctrl+C in the shell cancels a call, not the demo.
					return o.shell(ctx, c, demoHistory)
				}
				return errOr(nil, worst)
			})
		},
	}
}

// replay runs the classic session and returns its worst exit code;
// SIGINT or SIGTERM cancels it (exit 130).
func (o *options) replay(ctx context.Context, c *app.Client) (int, error) {
	ctx, stop := signalContext(ctx)
	defer stop()
	r, err := o.renderer()
	if err != nil {
		return 0, err
	}
	worst := ExitOK
	for _, line := range demoSession {
		if o.output == "text" {
			fmt.Fprintf(o.io.Out, "%s%s %s\n", prompt, line.target, line.command)
		}
		command, err := domain.ParseCommand(line.command)
		if err != nil {
			return 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		_, _, code := callLine(cctx, c, r, line.target, command)
		cancel()
		worst = max(worst, code)
		if ctx.Err() != nil {
			return ExitCancelled, nil
		}
	}
	return worst, nil
}

// errOr is err, else the exit code as an error (nil for ExitOK).
func errOr(err error, code int) error {
	if err != nil || code == ExitOK {
		return err
	}
	return &exitError{code: code}
}
