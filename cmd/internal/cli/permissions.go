package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/adapters/amqp"
)

func newBrokerPermissionsCmd(o *options) *cobra.Command {
	var vhost, serverUser, callerUser string
	cmd := &cobra.Command{
		Use:   "broker-permissions",
		Short: "Print the rabbitmqctl commands that give servers and callers the least rights they need",
		Long: `Print the rabbitmqctl commands that create two RabbitMQ users for the fleet of
--namespace: one for servers (topicrpcd), one for callers (topicrpc), each with
the least permissions it needs. The caller account cannot bind a queue to the
request exchange, consume a server's queue or publish to it directly: with it,
nobody can read other calls or answer in a server's name. Run them as the
broker's administrator, with passwords of your own; retiring servers (forget)
needs the server account.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			servers, callers := amqp.LeastPrivilege(o.namespace)
			quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
			w := o.io.Out
			fmt.Fprintf(w, "# topicrpc namespace %s on vhost %s: servers, then callers\n", o.namespace, vhost)
			for _, u := range []struct {
				name string
				p    amqp.Permissions
			}{{serverUser, servers}, {callerUser, callers}} {
				fmt.Fprintf(w, "rabbitmqctl add_user %s \"$PASSWORD\"   # a password of your own\n", quote(u.name))
				fmt.Fprintf(w, "rabbitmqctl set_permissions -p %s %s %s %s %s\n", quote(vhost), quote(u.name),
					quote(u.p.Configure), quote(u.p.Write), quote(u.p.Read))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&vhost, "vhost", "/", "the broker's virtual host")
	cmd.Flags().StringVar(&serverUser, "server-user", "topicrpc-server", "the servers' user name")
	cmd.Flags().StringVar(&callerUser, "caller-user", "topicrpc-caller", "the callers' user name")
	return cmd
}
