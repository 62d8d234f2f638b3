package cli

import (
	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
)

// amqpModule provides the AMQP transport for rawURL with the common flags.
func amqpModule(o *options, rawURL string) (fx.Option, error) {
	return app.AMQPTransport(amqp.Config{
		URL:            rawURL,
		Exchange:       o.namespace,
		QueuePrefix:    o.namespace + ".",
		ManagementURL:  o.managementURL,
		ConnectionName: o.program,
	}), nil
}

// redact hides the password of a URL.
func redact(raw string) string { return amqp.RedactURL(raw) }
