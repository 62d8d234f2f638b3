package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// BenchmarkCall: one call to the in-memory fleet of two, made directly
// (app.Client.Do) and through the console (the form posted, its event
// stream read to the end, over loopback HTTP): what the console adds.
func BenchmarkCall(b *testing.B) {
	c := newConsole(b, "")
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		ctx := b.Context()
		for b.Loop() {
			if s, _, err := c.client.Do(ctx, "all", domain.Command{Name: "echo", Args: "x"}); err != nil || s.OK != 2 {
				b.Fatalf("%+v %v", s, err)
			}
		}
	})
	b.Run("console", func(b *testing.B) {
		b.ReportAllocs()
		tok := c.csrf(b)
		form := url.Values{"target": {"all"}, "command": {"echo x"}}
		hdr := map[string]string{"X-CSRF-Token": tok}
		for b.Loop() {
			resp, body := c.postCall(b, form, hdr)
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("%s %s", resp.Status, body)
			}
			_, events, _ := started(b, body)
			if evs := c.events(b, events); len(evs) != 5 {
				b.Fatalf("events %v", evs)
			}
		}
	})
}
