package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// testMalformed: Send refuses a request no server could answer (no ID, a
// malformed command) before publishing it; a server answers requests it
// cannot run with an error code, one result each, and keeps serving.
func testMalformed(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	const maxArgs = 1 << 10
	srv := app.NewServer(tr, app.ServerConfig{Name: "m1", MaxArgs: maxArgs, Concurrency: 2}, quiet)
	if err := srv.Handle("boom", func(context.Context, string) (string, error) { panic("kaboom") }); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, srv, wait)

	for _, tc := range []struct {
		name string
		req  *domain.Request
		want error // nil: any error
	}{
		{"no ID", func() *domain.Request { r := request("m1", "echo", "x"); r.ID = ""; return r }(), nil},
		{"empty command name", request("m1", "", "x"), domain.ErrBadCommand},
		{"bad command name", request("m1", "rm -rf", ""), domain.ErrBadCommand},
		{"args not UTF-8", request("m1", "echo", "\xff\xfe"), domain.ErrBadCommand},
		{"target over 255 bytes", request(strings.Repeat("k", 256), "echo", ""), domain.ErrBadKey},
	} {
		s := newSink()
		err := tr.Send(t.Context(), tc.req, s)
		tr.Forget(tc.req.ID)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Send %s: %v, want an error wrapping %v", tc.name, err, tc.want)
		}
	}

	c := app.NewClient(tr, app.ClientConfig{Timeout: wait, IdleGap: 300 * time.Millisecond, MaxArgs: 4 * maxArgs}, quiet)
	for _, tc := range []struct {
		cmd  domain.Command
		code string
	}{
		{domain.Command{Name: "nosuch"}, domain.CodeUnknownCommand},
		{domain.Command{Name: "fib", Args: "x"}, domain.CodeBadArgs},
		{domain.Command{Name: "fib", Args: "94"}, domain.CodeBadArgs},
		{domain.Command{Name: "echo", Args: strings.Repeat("a", maxArgs+1)}, domain.CodeBadArgs},
		{domain.Command{Name: "boom"}, domain.CodePanic},
		{domain.Command{Name: "echo", Args: strings.Repeat("a", maxArgs)}, ""},
	} {
		sum, outs, err := c.Do(t.Context(), "m1", tc.cmd)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd.Name, err)
		}
		if len(outs) != 1 || outs[0].Reply.Code != tc.code || sum.Replied != 1 {
			t.Errorf("%.20s: %+v, want one result with code %q", tc.cmd, outs, tc.code)
		}
	}
	if _, err := c.Call(t.Context(), "m1", domain.Command{Name: "echo", Args: strings.Repeat("a", 4*maxArgs+1)}); !errors.Is(err, domain.ErrBadCommand) {
		t.Errorf("args over ClientConfig.MaxArgs: %v, want an error wrapping domain.ErrBadCommand", err)
	}
}
