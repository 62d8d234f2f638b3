package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/cmd/internal/web"
)

// webShutdown bounds how long the web console takes to stop.
const webShutdown = 5 * time.Second

func newWebCmd(o *options) *cobra.Command {
	var listen, tokenFile string
	cmd := &cobra.Command{
		Use:   "web",
		Short: "Serve a web console: the fleet and its calls, live in a browser",
		Long: `Serve a web console on --listen: the fleet register, live (up, unresponsive,
down, stopped; filter by name or binding), and a form that runs calls like
topicrpc call — who would answer as the target is typed, each server's reply
as it arrives, then the summary — signed with --auth-key-file like the CLI's.

On a loopback address (the default) it answers only requests for localhost,
127.0.0.1 or [::1]. On any other address it requires a token: the one in
--token-file (mode 600), else a random one, printed at start with the
address to open. Every request that changes something needs the page's
CSRF token and must come from the console's own origin.`,
		Example: `  topicrpc web                                   # http://127.0.0.1:8080/
  topicrpc web --url memory://                    # the demo fleet
  topicrpc web --listen 0.0.0.0:8080 --token-file /etc/topicrpc/web-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return o.serveWeb(ctx, listen, tokenFile)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the console on; beyond loopback a token is required")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "the token a browser must give (FILE, mode 600); required off loopback, else a random one is printed")
	return cmd
}

// serveWeb serves the console on listen until ctx ends.
func (o *options) serveWeb(ctx context.Context, listen, tokenFile string) error {
	loopback, err := loopbackListen(listen)
	if err != nil {
		return err
	}
	var token string
	if tokenFile != "" {
		b, err := readSecret("--token-file", tokenFile, 16)
		if err != nil {
			return err
		}
		token = string(b)
	} else if !loopback {
		var b [24]byte
		_, _ = rand.Read(b[:])
		token = base64.RawURLEncoding.EncodeToString(b[:])
	}
	// Calls from the page are kept as jobs (--record, on by default) when
	// the transport has a results store: the jobs page shows them.
	return o.withClientRoster(ctx, o.url, true, func(ctx context.Context, c *app.Client, roster *app.Roster) error {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return usageError("--listen %s: %v", listen, err)
		}
		var jobs web.Jobs
		if j, err := c.Jobs(); err == nil {
			jobs = j
		}
		console, err := web.New(web.Config{Caller: c, Fleet: c, Presence: roster, Jobs: jobs, Token: token,
			Namespace: o.namespace, Timeout: o.timeout, MinTimeout: MinTimeout, MaxTimeout: MaxTimeout,
			Vet: func(ctx context.Context, r web.CallRequest) error { return o.vetWebCall(ctx, c, r) }, Log: o.log})
		if err != nil {
			_ = ln.Close()
			return err
		}
		srv := &http.Server{Handler: console.Handler(), ReadHeaderTimeout: 10 * time.Second}
		addr := "http://" + ln.Addr().String() + "/"
		if token != "" && tokenFile == "" {
			fmt.Fprintf(o.io.Out, "topicrpc web: serving %s?token=%s\n", addr, token)
		} else {
			fmt.Fprintf(o.io.Out, "topicrpc web: serving %s\n", addr)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err = <-served:
		case <-ctx.Done():
		}
		console.Close() // ends the event streams, so that Shutdown need not wait for them
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webShutdown)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve %s: %w", addr, err)
		}
		return nil
	})
}

// vetWebCall applies the command line's checks of --any and --expect to a
// call from the page.
func (o *options) vetWebCall(ctx context.Context, c *app.Client, r web.CallRequest) error {
	if r.Any {
		return o.checkWorkers(ctx, r.Target)
	}
	if r.Expect > 0 {
		return checkExpect(ctx, c, r.Expect, r.Target)
	}
	return nil
}

// loopbackListen reports whether the address listen names is a loopback
// one (localhost, 127.0.0.0/8, ::1); an address that cannot be parsed is a
// usage error.
func loopbackListen(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, usageError("--listen %q: want HOST:PORT, like 127.0.0.1:8080", listen)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
