package amqp_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/adapters/amqp"
)

func TestSplitURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"amqp://h1/", []string{"amqp://h1/"}},
		{"amqp://h1:5672/,amqp://h2:5672/", []string{"amqp://h1:5672/", "amqp://h2:5672/"}},
		{" amqp://h1/ , amqps://h2/ ,", []string{"amqp://h1/", "amqps://h2/"}},
		{"amqp://u:a,b@h1/,amqp://u:a,b@h2/", []string{"amqp://u:a,b@h1/", "amqp://u:a,b@h2/"}},
		{"amqp://h1/,,amqp://h2/", []string{"amqp://h1/", "amqp://h2/"}},
		{"memory://", []string{"memory://"}},
	} {
		if got := amqp.SplitURLs(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactURLList(t *testing.T) {
	t.Parallel()
	got := amqp.RedactURL("amqp://u:s3cret@h1:5672/,amqp://u:an,other@h2:5672/")
	if want := "amqp://u:xxxxx@h1:5672/,amqp://u:xxxxx@h2:5672/"; got != want {
		t.Errorf("RedactURL(list) = %q, want %q", got, want)
	}
	if strings.Contains(got, "s3cret") || strings.Contains(got, "other") {
		t.Errorf("RedactURL(list) leaks a password: %q", got)
	}
}
