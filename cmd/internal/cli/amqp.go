package cli

import (
	"net/url"

	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/adapters/fxtransport"
)

// amqpModule provides the AMQP transport for rawURL with the common flags.
func amqpModule(o *options, rawURL string) (fx.Option, error) {
	if o.discovery == "routes" && o.managementURL == "" {
		return nil, usageError("--discovery routes needs --management-url (or TOPICRPC_MANAGEMENT_URL): only the management API tells who a target reaches on RabbitMQ")
	}
	if m := o.managementURL; m != "" {
		if u, err := url.Parse(m); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError("--management-url %s: want http://user:password@host:15672 (or https://)", redact(m))
		}
	}
	tlsConfig, err := o.tls.config(rawURL, o.managementURL)
	if err != nil {
		return nil, err
	}
	queueTypes, err := amqp.ParseQueueTypes(o.queueTypes)
	if err != nil {
		return nil, usageError("--queue-types: %v", err)
	}
	return fxtransport.AMQP(amqp.Config{
		URL:            rawURL,
		QueueTypes:     queueTypes,
		TLS:            tlsConfig,
		Exchange:       o.namespace,
		QueuePrefix:    o.namespace + ".",
		ManagementURL:  o.managementURL,
		ConnectionName: o.program,
		Observer:       o.amqpObserver,
		Jobs:           o.jobs,
		// The client's commands that store a record before each call
		// (--record) or read jobs dial the results store alongside.
		PrepareJobs: o.program == "topicrpc" && (o.record || o.readsJobs),
	}), nil
}

// redact hides the password of a URL.
func redact(raw string) string { return amqp.RedactURL(raw) }
