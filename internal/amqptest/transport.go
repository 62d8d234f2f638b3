package amqptest

import (
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// setupTimeout bounds connecting a transport and starting a subscription.
const setupTimeout = 30 * time.Second

// Config returns the configuration of a transport in the namespace: its
// broker, exchange, queue prefix and logger; defaults for the rest. It
// leaves the management API out: such a transport cannot tell who a target
// reaches (Routes says ports.ErrRoutesUnknown); see WithManagement.
func (ns *Namespace) Config() amqp.Config {
	return amqp.Config{
		URL:         ns.Broker.URL,
		Exchange:    ns.Exchange,
		QueuePrefix: ns.Prefix,
		Logger:      ns.Logger,
	}
}

// WithManagement gives a transport the broker's management API, to tell
// who a target reaches (a mod for Transport).
func (ns *Namespace) WithManagement(c *amqp.Config) { c.ManagementURL = ns.Broker.ManagementURL }

// Transport connects a transport with Config, changed by each of mods in
// turn, and closes it when tb ends, failing the test if Close fails.
func (ns *Namespace) Transport(tb testing.TB, mods ...func(*amqp.Config)) *amqp.Transport {
	tb.Helper()
	cfg := ns.Config()
	for _, m := range mods {
		m(&cfg)
	}
	tr, err := amqp.New(testkit.Context(tb, setupTimeout), cfg)
	if err != nil {
		tb.Fatalf("connect a transport: %v", err)
	}
	tb.Cleanup(func() {
		if err := tr.Close(); err != nil {
			tb.Errorf("close the transport: %v", err)
		}
	})
	return tr
}

// Serve serves ep on tr with h, tracks ep's queue for deletion, and closes
// the subscription when tb ends, failing the test if Close fails.
func (ns *Namespace) Serve(tb testing.TB, tr ports.Transport, ep ports.Endpoint, h ports.Handler) ports.Subscription {
	tb.Helper()
	ns.Track(ep.QueueName())
	sub, err := tr.Serve(testkit.Context(tb, setupTimeout), ep, h)
	if err != nil {
		tb.Fatalf("serve %s: %v", ep.Name, err)
	}
	tb.Cleanup(func() {
		if err := sub.Close(testkit.Context(tb, 5*time.Second)); err != nil {
			tb.Errorf("close subscription %s: %v", ep.Name, err)
		}
	})
	return sub
}
