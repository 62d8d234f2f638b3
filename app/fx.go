package app

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// The fx modules of the use cases. They name no adapter: a transport comes
// from adapters/fxtransport (or any fx.Option providing a ports.Transport).

// Logger supplies the *slog.Logger every module uses. With fxLog false, fx's
// own event log is silenced; with true, it goes to log at debug level.
func Logger(log *slog.Logger, fxLog bool) fx.Option {
	if !fxLog {
		return fx.Options(fx.Supply(log), fx.NopLogger)
	}
	return fx.Options(fx.Supply(log), fx.WithLogger(func() fxevent.Logger {
		return &fxevent.SlogLogger{Logger: log}
	}))
}

// ServerModule provides a *Fleet of the configured servers, started when the
// app starts and stopped (gracefully, within the stop timeout) when it stops.
// Register your own handlers on the fleet from an fx.Invoke.
func ServerModule(cfgs ...ServerConfig) fx.Option {
	return fx.Module("server",
		fx.Provide(func(t ports.Transport, log *slog.Logger) *Fleet { return NewFleet(t, cfgs, log) }),
		fx.Invoke(func(lc fx.Lifecycle, f *Fleet) { lc.Append(fx.StartStopHook(f.Start, f.Stop)) }),
	)
}

// ClientModule provides a *Client, using the *Roster when the app has one
// (see RosterModule).
func ClientModule(cfg ClientConfig) fx.Option {
	return fx.Module("client",
		fx.Provide(func(p clientParams) *Client {
			if cfg.Roster == nil {
				cfg.Roster = p.Roster
			}
			c := NewClient(p.Transport, cfg, p.Log)
			// Before the transport stops: the records of recorded calls
			// still being stored go out (Client.Flush).
			p.Lifecycle.Append(fx.Hook{OnStop: c.Flush})
			return c
		}),
	)
}

type clientParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Transport ports.Transport
	Log       *slog.Logger
	Roster    *Roster `optional:"true"`
}

// RosterModule provides a *Roster of the servers on the transport, started
// when the app starts: it asks who is there and waits until the answers have
// stopped coming for quiet (at most the start timeout). With the fleet key
// (may be nil) it takes only signed presence messages.
func RosterModule(quiet time.Duration, key []byte) fx.Option {
	return RosterModuleTrusting(quiet, domain.Trust{FleetKey: key})
}

// RosterModuleTrusting is RosterModule taking only presence messages signed
// with a key of trust.
func RosterModuleTrusting(quiet time.Duration, trust domain.Trust) fx.Option {
	return fx.Module("roster",
		fx.Provide(func(t ports.Transport, log *slog.Logger) *Roster { return NewRosterTrusting(t, trust, log) }),
		fx.Invoke(func(lc fx.Lifecycle, r *Roster) {
			lc.Append(fx.Hook{
				OnStart: func(ctx context.Context) error {
					if err := r.Start(ctx); err != nil {
						return err
					}
					r.Settle(ctx, quiet)
					return nil
				},
				OnStop: r.Close,
			})
		}),
	)
}
