package testkit_test

import (
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

func TestNoBroker(t *testing.T) {
	for _, tc := range []struct {
		require    string
		skip, fail bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(testkit.EnvRequireBroker, tc.require)
			o := end(t, func(tb testing.TB) { testkit.NoBroker(tb, "no broker:\n  none here") })
			if (o.skipped != "") != tc.skip || (o.failed != "") != tc.fail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", o.skipped, o.failed, tc.skip, tc.fail)
			}
			msg := o.skipped + o.failed
			if !strings.HasPrefix(msg, "no broker: none here") || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want the reason, on one line", msg)
			}
			if tc.fail && !strings.Contains(msg, testkit.EnvRequireBroker+"=1") {
				t.Errorf("failure %q does not say why it is not a skip", msg)
			}
		})
	}
}

func TestEnvBroker(t *testing.T) {
	t.Setenv(testkit.EnvRequireBroker, "")
	t.Setenv(testkit.EnvAMQPURL, "")
	t.Setenv(testkit.EnvManagementURL, "")
	if o := end(t, func(tb testing.TB) { testkit.EnvBroker(tb) }); !strings.Contains(o.skipped, testkit.EnvAMQPURL) {
		t.Errorf("without %s: skipped %q, failed %q", testkit.EnvAMQPURL, o.skipped, o.failed)
	}

	t.Setenv(testkit.EnvAMQPURL, "amqp://u:p@h/")
	var b testkit.Broker
	if o := end(t, func(tb testing.TB) { b = testkit.EnvBroker(tb) }); o.skipped+o.failed != "" || b.URL != "amqp://u:p@h/" {
		t.Errorf("with %s: got %+v, skipped %q, failed %q", testkit.EnvAMQPURL, b, o.skipped, o.failed)
	}
	if o := end(t, func(tb testing.TB) { b.Management(tb) }); !strings.Contains(o.skipped, testkit.EnvManagementURL) {
		t.Errorf("without %s: skipped %q, failed %q", testkit.EnvManagementURL, o.skipped, o.failed)
	}

	t.Setenv(testkit.EnvManagementURL, "http://u:p@h:15672")
	t.Setenv(testkit.EnvRequireBroker, "1")
	if o := end(t, func(tb testing.TB) {
		if got := testkit.EnvBroker(tb).Management(tb); got != "http://u:p@h:15672" {
			t.Errorf("Management = %q", got)
		}
	}); o.skipped+o.failed != "" {
		t.Errorf("with both: skipped %q, failed %q", o.skipped, o.failed)
	}
}
