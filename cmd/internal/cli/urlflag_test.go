package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// --url takes the nodes of a cluster: repeated, comma-separated, or from
// TOPICRPC_URL; a node that does not answer is passed over.
func TestSeveralBrokerURLs(t *testing.T) {
	t.Parallel()
	good := testkit.EnvBroker(t).URL
	dead := "amqp://guest:guest@" + testkit.ClosedAddr(t) + "/"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"repeated", nil, []string{"servers", "--url", dead, "--url", good}},
		{"repeated, the dead one last", nil, []string{"servers", "--url", good, "--url", dead}},
		{"comma-separated", nil, []string{"servers", "--url", dead + "," + good}},
		{"environment", map[string]string{"TOPICRPC_URL": good + "," + dead}, []string{"servers"}},
		{"config file list", nil, []string{"servers", "--config", writeConfig(t, "url:\n  - "+dead+"\n  - "+good+"\n")}},
		{"config file, comma-separated", nil, []string{"servers", "--config", writeConfig(t, "url: "+good+","+dead+"\n")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if r := runEnv(t, tc.env, append(tc.args, "--namespace", "urls"+strings.ReplaceAll(time.Now().Format("150405.000000"), ".", ""))...); r.code != 0 {
				t.Errorf("exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
			}
		})
	}
}

func TestBrokerURLListMistakes(t *testing.T) {
	t.Parallel()
	a, b := testkit.ClosedAddr(t), testkit.ClosedAddr(t)
	r := run(t, "", "servers", "--url", "amqp://guest:s3cret@"+a+"/,amqp://guest:s3cret@"+b+"/")
	if r.code != 69 || !strings.Contains(r.err, a) || !strings.Contains(r.err, b) || strings.Contains(r.err, "s3cret") ||
		strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Errorf("no broker up: exit %d, want 69 and one line naming both, no password\nstderr: %s", r.code, r.err)
	}
	r = run(t, "", "servers", "--url", "memory://", "--url", "amqp://guest:guest@"+a+"/")
	if r.code != 64 || !strings.Contains(r.err, "memory:// stands alone") {
		t.Errorf("memory:// in a list: exit %d, want 64\nstderr: %s", r.code, r.err)
	}
}
