package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Enabled reports whether the standard OpenTelemetry environment variables,
// read with getenv, ask for traces: OTEL_TRACES_EXPORTER=otlp, or an OTLP
// endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
// never with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Tracing
// is off by default: nothing set, nothing traced. It fails on an exporter
// or protocol other than OTLP over HTTP (http/protobuf), the one supported.
func Enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	on := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	switch e := getenv("OTEL_TRACES_EXPORTER"); e {
	case "none":
		return false, nil
	case "otlp":
		on = true
	case "":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: want otlp or none", e)
	}
	if !on {
		return false, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(k); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("%s=%s: only http/protobuf (OTLP over HTTP) is supported", k, p)
			}
			break
		}
	}
	return true, nil
}

// FromEnv returns a TracerProvider exporting spans in batches with OTLP over
// HTTP as the OTEL_* environment variables say (endpoint, headers, timeout,
// sampler, batch sizes; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
// service defaulting to service), or nil when Enabled says tracing is off.
// Shut it down when done, to flush what it holds. Creating it connects to
// nothing: an unreachable collector costs dropped spans, logged by the
// exporter, never a failed call.
func FromEnv(ctx context.Context, service string) (*sdktrace.TracerProvider, error) {
	on, err := Enabled(os.Getenv)
	if err != nil || !on {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
