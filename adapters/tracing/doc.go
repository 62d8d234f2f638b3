// Package tracing traces topicrpc calls with OpenTelemetry
// (go.opentelemetry.io/otel): a client span per call (Tracing is an
// app.CallTracer, for app.ClientConfig.Tracer) and a server span per
// request (Tracing.Middleware, for app.ServerConfig.Middleware), joined by
// the W3C trace context the request carries (domain.Request.Trace; on
// RabbitMQ the traceparent and tracestate headers).
//
// It uses no global provider: New takes the TracerProvider to use, and
// FromEnv builds one exporting with OTLP over HTTP as the standard OTEL_*
// environment variables say, or none when they do not ask for tracing.
// Without a Tracing nothing is traced and nothing is carried: a client or
// server without one pays nothing.
package tracing
