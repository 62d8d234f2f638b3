package cli

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestConfigValueRedacts: flags whose value is a secret itself print as
// xxxxx (today none has one; the rule covers flags yet to come), files
// naming where a secret is print as they are, URLs lose their password.
func TestConfigValueRedacts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, usage, value, want string
	}{
		{"auth-key", "the shared secret", "s3cr3t", "xxxxx"},
		{"broker-password", "the password", "s3cr3t", "xxxxx"},
		{"web-token", "a login token", "s3cr3t", "xxxxx"},
		{"auth-key", "the shared secret", "", ""},
		{"auth-key-file", "the secret key in FILE", "/etc/topicrpc/auth.key", "/etc/topicrpc/auth.key"},
		{"tls-key", "PEM file of the private key", "/etc/ssl/k.pem", "/etc/ssl/k.pem"},
		{"url", "broker URL", "amqps://u:p%40ss@h:5671/v", "amqps://u:xxxxx@h:5671/v"},
		{"url", "broker URL", "amqp://u@h/", "amqp://u@h/"},
		{"namespace", "prefix", "keys", "keys"},
	} {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.String(tc.name, "", tc.usage)
		f := fs.Lookup(tc.name)
		if err := f.Value.Set(tc.value); err != nil {
			t.Fatal(err)
		}
		if got := configValue(f).Value; got != tc.want {
			t.Errorf("--%s=%q (%s): printed %q, want %q", tc.name, tc.value, tc.usage, got, tc.want)
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.StringArray("url", nil, "brokers")
	f := fs.Lookup("url")
	_ = f.Value.Set("amqp://a:pw1@h1/")
	_ = f.Value.Set("amqp://a:pw2@h2/")
	list := configValue(f)
	if len(list.Content) != 2 || list.Content[0].Value != "amqp://a:xxxxx@h1/" || list.Content[1].Value != "amqp://a:xxxxx@h2/" {
		t.Errorf("a list of URLs: %+v", list.Content)
	}
}
