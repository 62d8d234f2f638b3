package app

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/ports"
)

// This file is the only one in app that names adapters: the use cases above
// see nothing but ports.Transport.

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

// MemoryTransport provides an in-process topic exchange as the ports.Transport,
// closed when the app stops.
func MemoryTransport(cfg memory.Config) fx.Option {
	return fx.Module("transport.memory",
		fx.Provide(fx.Annotate(func(log *slog.Logger) *memory.Transport {
			if cfg.Logger == nil {
				cfg.Logger = log
			}
			return memory.New(cfg)
		}, fx.As(new(ports.Transport)))),
		fx.Invoke(closeOnStop),
	)
}

// AMQPTransport provides the RabbitMQ transport as the ports.Transport. It
// connects when the app is built (bounded by cfg.DialTimeout), so a broker
// that cannot be reached shows as the app's error, and closes when the app
// stops.
func AMQPTransport(cfg amqp.Config) fx.Option {
	return fx.Module("transport.amqp",
		fx.Provide(fx.Annotate(func(log *slog.Logger) (*amqp.Transport, error) {
			if cfg.Logger == nil {
				cfg.Logger = log
			}
			ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout+time.Second)
			defer cancel()
			return amqp.New(ctx, cfg)
		}, fx.As(new(ports.Transport)))),
		fx.Invoke(closeOnStop),
	)
}

func closeOnStop(lc fx.Lifecycle, t ports.Transport) { lc.Append(fx.StopHook(t.Close)) }

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
			return NewClient(p.Transport, cfg, p.Log)
		}),
	)
}

type clientParams struct {
	fx.In
	Transport ports.Transport
	Log       *slog.Logger
	Roster    *Roster `optional:"true"`
}

// RosterModule provides a *Roster of the servers on the transport, started
// when the app starts: it asks who is there and waits until the answers have
// stopped coming for quiet (at most the start timeout).
func RosterModule(quiet time.Duration) fx.Option {
	return fx.Module("roster",
		fx.Provide(NewRoster),
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
