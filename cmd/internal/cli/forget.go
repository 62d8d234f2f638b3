package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

func newForgetCmd(o *options) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "forget NAME...",
		Short: "Retire servers: remove them from the fleet register and delete their queues",
		Long: `Retire servers for good: each is removed from the fleet register, so calls no
longer expect it, and its queue is deleted with the requests it held (their
number is printed). A server that is up is refused unless --force; forgotten
anyway, it keeps its queue and records itself again at its next refresh.`,
		Example: `  topicrpc forget w3
  topicrpc servers --down -o json | jq -r .server | xargs topicrpc forget`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("want the NAME of at least one server")
			}
			for _, n := range args {
				if err := domain.ValidateServerName(n); err != nil {
					return usageError("%v", err)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return o.withRegister(ctx, false, func(ctx context.Context, reg ports.Register, _ *app.Roster) error {
				failed := 0
				for _, name := range args {
					f, err := app.Forget(ctx, reg, name, force)
					switch {
					case errors.Is(err, app.ErrNotRegistered), errors.Is(err, app.ErrServerUp):
						failed++
						fmt.Fprintln(o.io.Err, err)
					case err != nil:
						return o.transportError("forget "+name, o.url, err)
					case f.QueueDeleted:
						fmt.Fprintf(o.io.Out, "forgot %s; deleted its queue, which held %d request(s)\n", name, f.Held)
					default:
						fmt.Fprintf(o.io.Out, "forgot %s; its queue stays (it has a consumer, or is shared)\n", name)
					}
				}
				if failed > 0 {
					return &exitError{code: ExitFailed}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "forget servers that are up too")
	return cmd
}
