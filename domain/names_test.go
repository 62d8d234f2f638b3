package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

func TestNameRules(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", domain.MaxNameLength+1)
	tests := []struct {
		rule    string
		check   func(string) error
		in      string
		sentry  error  // nil: valid
		mention string // the error names the rule and what broke it
	}{
		{"server", domain.ValidateServerName, "q1", nil, ""},
		{"server", domain.ValidateServerName, "payments-worker_eu-1", nil, ""},
		{"server", domain.ValidateServerName, "wörker", nil, ""},
		{"server", domain.ValidateServerName, "", domain.ErrBadName, "empty server name"},
		{"server", domain.ValidateServerName, "a.b", domain.ErrBadName, `server name "a.b" has '.'`},
		{"server", domain.ValidateServerName, "a*", domain.ErrBadName, `has '*'`},
		{"server", domain.ValidateServerName, "#", domain.ErrBadName, `has '#'`},
		{"server", domain.ValidateServerName, "a b", domain.ErrBadName, `has ' '`},
		{"server", domain.ValidateServerName, long, domain.ErrBadName, "server name is 256 bytes, at most 255"},
		{"server", domain.ValidateServerName, "a\xff", domain.ErrBadName, "not valid UTF-8"},
		{"group", domain.ValidateGroup, "web", nil, ""},
		{"group", domain.ValidateGroup, "web.eu", domain.ErrBadName, `work group "web.eu" has '.'`},
		{"group", domain.ValidateGroup, "", domain.ErrBadName, "empty work group"},
		{"namespace", domain.ValidateNamespace, "topicrpc", nil, ""},
		{"namespace", domain.ValidateNamespace, "team.fleet", nil, ""},
		{"namespace", domain.ValidateNamespace, "", domain.ErrBadName, "empty namespace"},
		{"namespace", domain.ValidateNamespace, "a#", domain.ErrBadName, `namespace "a#" has '#'`},
		{"namespace", domain.ValidateNamespace, "amq.x", domain.ErrBadName, "RabbitMQ reserves"},
		{"target", domain.ValidateTarget, "group1", nil, ""},
		{"target", domain.ValidateTarget, "a..b", nil, ""},
		{"target", domain.ValidateTarget, "", domain.ErrBadKey, "empty target"},
		{"target", domain.ValidateTarget, long, domain.ErrBadKey, "routing key is 256 bytes"},
		{"queue", func(n string) error { return domain.ValidateQueueName("topicrpc.", n) }, "q1", nil, ""},
		{"queue", func(n string) error { return domain.ValidateQueueName("topicrpc.", n) }, "", domain.ErrBadName, "empty queue name"},
		{"queue", func(n string) error { return domain.ValidateQueueName("topicrpc.", n) }, long[:250], domain.ErrBadName, `is 259 bytes with its prefix "topicrpc."`},
		{"queue", func(n string) error { return domain.ValidateQueueName("", n) }, "amq.q", domain.ErrBadName, "RabbitMQ reserves"},
	}
	for _, tc := range tests {
		err := tc.check(tc.in)
		switch {
		case tc.sentry == nil && err != nil:
			t.Errorf("%s %.20q: %v, want valid", tc.rule, tc.in, err)
		case tc.sentry != nil && !errors.Is(err, tc.sentry):
			t.Errorf("%s %.20q: %v, want an error wrapping %v", tc.rule, tc.in, err, tc.sentry)
		case tc.sentry != nil && !strings.Contains(err.Error(), tc.mention):
			t.Errorf("%s %.20q: %q does not say %q", tc.rule, tc.in, err, tc.mention)
		}
	}
}
