package cli

import (
	"context"
	"time"

	"github.com/topicrpc/topicrpc/adapters/tracing"
)

// tracingShutdown bounds the flush of the spans still held at exit.
const tracingShutdown = 5 * time.Second

// tracer returns the Tracing the standard OTEL_* environment variables ask
// for (OTLP over HTTP; see tracing.FromEnv), and what flushes and stops it
// at exit; nil when they ask for none, the default.
func (o *options) tracer(ctx context.Context) (*tracing.Tracing, func(), error) {
	tp, err := tracing.FromEnv(ctx, o.program)
	if err != nil {
		return nil, nil, usageError("tracing: %v", err)
	}
	if tp == nil {
		return nil, func() {}, nil
	}
	return tracing.New(tp), func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingShutdown)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			o.log.Warn("traces not all exported", "err", err)
		}
	}, nil
}
