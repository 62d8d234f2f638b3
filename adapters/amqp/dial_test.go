package amqp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// silentListener accepts connections and never says a word.
func silentListener(t *testing.T) string {
	return testkit.Listen(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

func TestNewFailsFastAndHidesThePassword(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pa55"
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		timeout time.Duration // DialTimeout
		ctx     time.Duration // New's ctx
		within  time.Duration
		want    string // in the error
	}{
		{"refused", func(t *testing.T) string { return "amqp://guest:" + secret + "@" + testkit.ClosedAddr(t) + "/" },
			5 * time.Second, 10 * time.Second, 2 * time.Second, "refused"},
		{"silent peer", func(t *testing.T) string { return "amqp://guest:" + secret + "@" + silentListener(t) + "/" },
			500 * time.Millisecond, 10 * time.Second, 2 * time.Second, "guest:xxxxx@"},
		{"ctx ends first", func(t *testing.T) string { return "amqp://guest:" + secret + "@" + silentListener(t) + "/" },
			10 * time.Second, 300 * time.Millisecond, 2 * time.Second, "deadline exceeded"},
		{"bad URL", func(t *testing.T) string { return "amqp://guest:" + secret + "%zz@localhost/" },
			5 * time.Second, 10 * time.Second, time.Second, "bad broker URL"},
		{"bad scheme", func(t *testing.T) string { return "http://guest:" + secret + "@localhost/" },
			5 * time.Second, 10 * time.Second, time.Second, "scheme"},
		{"wrong password", func(t *testing.T) string {
			u, err := amqp091.ParseURI(testkit.EnvBroker(t).URL)
			if err != nil {
				t.Fatal(err)
			}
			u.Password = secret
			return u.String()
		}, 5 * time.Second, 10 * time.Second, 4500 * time.Millisecond, "login refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := tt.url(t)
			ctx := testkit.Context(t, tt.ctx)
			begin := time.Now()
			tr, err := amqp.New(ctx, amqp.Config{URL: url, DialTimeout: tt.timeout})
			took := time.Since(begin)
			if err == nil {
				tr.Close()
				t.Fatal("New succeeded")
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			if took > tt.within {
				t.Errorf("New took %v, want at most %v", took, tt.within)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.name == "ctx ends first" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error does not wrap DeadlineExceeded")
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []amqp.Config{
		{},
		{URL: "amqp://localhost/", Exchange: "amq.topic"},
		{URL: "amqp://localhost/", QueuePrefix: "amq."},
		{URL: "amqp://localhost/", ReplyMode: 7},
	} {
		if tr, err := amqp.New(context.Background(), cfg); err == nil {
			tr.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"amqp://guest:guest@localhost:5672/", "amqp://guest:xxxxx@localhost:5672/"},
		{"amqps://u:p%40ss@host/vhost?heartbeat=5", "amqps://u:xxxxx@host/vhost?heartbeat=5"},
		{"amqp://u:p@ss/word@host/", "amqp://u:xxxxx@host/"},
		{"amqp://u:p:a:s:s@host", "amqp://u:xxxxx@host"},
		{"amqp://user@host/", "amqp://user@host/"},
		{"amqp://host:5672/", "amqp://host:5672/"},
		{"amqp://:secret@host", "amqp://:xxxxx@host"},
		{"u:secret@host", "u:xxxxx@host"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := amqp.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("amqp://guest:guest@localhost:5672/", "pw")
	f.Add("amqps://u:p%40ss@host/vhost?heartbeat=5", "x@y/z")
	f.Fuzz(func(t *testing.T, rest, pw string) {
		if pw == "" || strings.ContainsAny(pw, "@") {
			return
		}
		u := "amqp://user:" + pw + "@" + strings.ReplaceAll(rest, "@", "")
		if got := amqp.RedactURL(u); strings.Contains(got, ":"+pw+"@") {
			t.Errorf("RedactURL(%q) = %q keeps the password", u, got)
		}
	})
}
