package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/topicrpc/topicrpc/adapters/metrics"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/ports"
)

// metricsEndpoint is topicrpcd's --metrics-addr listener: /metrics from a
// registry of its own (the server's metrics, Go's and the process's),
// /healthz, and /readyz, ready while the server is started and not stopping
// and its transport is connected and consuming.
type metricsEndpoint struct {
	m         *metrics.Metrics
	srv       *http.Server
	ln        net.Listener
	serving   atomic.Bool
	transport atomic.Pointer[ports.Transport]
}

// readier is a transport that can tell whether it is connected and
// consuming (adapters/amqp); one that cannot is ready once started.
type readier interface{ Ready() error }

// listenMetrics listens on addr and returns the endpoint, not yet serving.
func listenMetrics(addr string) (*metricsEndpoint, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError("--metrics-addr %q: want HOST:PORT, e.g. 127.0.0.1:9464 or :9464", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	e := &metricsEndpoint{m: metrics.New(metrics.Build{Revision: buildRevision(), GoVersion: runtime.Version()}), ln: ln}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := e.m.Register(reg); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	e.srv = &http.Server{Handler: metrics.Handler(reg, e.ready), ReadHeaderTimeout: 5 * time.Second}
	return e, nil
}

// serve answers on the listener until close.
func (e *metricsEndpoint) serve() {
	go func() { _ = e.srv.Serve(e.ln) }()
}

// ready is /readyz's test.
func (e *metricsEndpoint) ready() error {
	if !e.serving.Load() {
		return errors.New("not serving: starting or stopping")
	}
	if t := e.transport.Load(); t != nil {
		if r, ok := (*t).(readier); ok {
			return r.Ready()
		}
	}
	return nil
}

// started marks the server serving on t; stopping marks it not.
func (e *metricsEndpoint) started(t ports.Transport) {
	e.transport.Store(&t)
	e.serving.Store(true)
}

func (e *metricsEndpoint) stopping() { e.serving.Store(false) }

// close stops the listener, giving scrapes in progress a second.
func (e *metricsEndpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
}

// instrument adds the metrics to cfg: the middleware first, so that it sees
// every request and its final outcome, and the observer.
func (e *metricsEndpoint) instrument(cfg *app.ServerConfig) {
	cfg.Middleware = append([]app.Middleware{e.m.Middleware}, cfg.Middleware...)
	cfg.Observer = e.m
}

// buildRevision is the commit the binary was built from, when known.
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return buildCommit
}
