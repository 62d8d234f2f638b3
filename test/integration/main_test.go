// Package integration_test holds the tests that need a real RabbitMQ: the
// conformance suite on the AMQP transport, the differential topic test, and
// end-to-end runs of the built binaries. TestMain finds the broker (see
// test/internal/brokertest).
package integration_test

import (
	"testing"

	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

func TestMain(m *testing.M) { brokertest.Main(m) }
