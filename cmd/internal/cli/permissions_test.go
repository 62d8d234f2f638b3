package cli_test

import (
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/adapters/amqp"
)

// broker-permissions prints, for the namespace, the two users and exactly the
// permissions TestLeastPrivilegeBroker checks on a real broker.
func TestBrokerPermissionsPrintsTheLeastPrivilege(t *testing.T) {
	t.Parallel()
	r := run(t, "", "broker-permissions", "--namespace", "fleet1", "--caller-user", "ops")
	servers, callers := amqp.LeastPrivilege("fleet1")
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d\n%s", r.code, r.err)
	}
	for _, want := range []string{
		"rabbitmqctl add_user 'topicrpc-server'",
		"rabbitmqctl set_permissions -p '/' 'topicrpc-server' '" + servers.Configure + "' '" + servers.Write + "' '" + servers.Read + "'",
		"rabbitmqctl add_user 'ops'",
		"rabbitmqctl set_permissions -p '/' 'ops' '" + callers.Configure + "' '" + callers.Write + "' '" + callers.Read + "'",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
}
