// Package fxtransport provides each transport adapter to a go.uber.org/fx
// app as the ports.Transport, closed when the app stops. It is the one
// package that names both adapters for wiring, so that app (the use cases)
// imports none: use it with app.ServerModule, app.ClientModule and
// app.RosterModule.
//
//	fx.New(app.Logger(log, false), fxtransport.AMQP(cfg), app.ServerModule(servers...))
package fxtransport

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/ports"
)

// Memory provides an in-process topic exchange as the ports.Transport, closed
// when the app stops. cfg.Logger defaults to the app's *slog.Logger.
func Memory(cfg memory.Config) fx.Option {
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

// AMQP provides the RabbitMQ transport as the ports.Transport. It connects
// when the app is built (bounded by cfg.DialTimeout), so a broker that cannot
// be reached shows as the app's error, and closes when the app stops.
// cfg.Logger defaults to the app's *slog.Logger.
func AMQP(cfg amqp.Config) fx.Option {
	return fx.Module("transport.amqp",
		fx.Provide(fx.Annotate(func(log *slog.Logger) (*amqp.Transport, error) {
			if cfg.Logger == nil {
				cfg.Logger = log
			}
			// The dial is bounded by the dial timeout New applies (its
			// default when zero); this only stops a New that would hang.
			dialTimeout := cfg.DialTimeout
			if dialTimeout <= 0 {
				dialTimeout = amqp.DefaultDialTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout+time.Second)
			defer cancel()
			return amqp.New(ctx, cfg)
		}, fx.As(new(ports.Transport)))),
		fx.Invoke(closeOnStop),
	)
}

func closeOnStop(lc fx.Lifecycle, t ports.Transport) { lc.Append(fx.StopHook(t.Close)) }
