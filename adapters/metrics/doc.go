// Package metrics measures topicrpc servers and transports with Prometheus
// (github.com/prometheus/client_golang): requests per command and outcome,
// their duration, requests in flight, acks and progress replies sent,
// presence messages, fleet register writes, connection losses and
// reconnections, and the build.
//
// It uses no global registry: New returns the collectors, and the caller
// registers them on a registry of its own (Metrics.Register). They are fed
// by a request-pipeline middleware (Metrics.Middleware, for
// app.ServerConfig.Middleware), by an app.ServerObserver and by an
// amqp.Observer, both *Metrics itself (app.ServerConfig.Observer,
// amqp.Config.Observer). Handler serves them over HTTP with /healthz and
// /readyz.
//
// Label values are bounded whatever the wire carries: a command label is a
// name some handler of this process ran (at most MaxCommands of them);
// any other name is counted as UnknownCommand.
package metrics
