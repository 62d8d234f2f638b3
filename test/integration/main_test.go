// Package integration_test holds the tests that need a real RabbitMQ: the
// conformance suite on the AMQP transport, the differential topic test, and
// end-to-end runs of the built binaries. TestMain builds the binaries
// (test/internal/bintest) and finds the broker (test/internal/brokertest).
package integration_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/topicrpc/topicrpc/test/internal/bintest"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// bins holds topicrpc and topicrpcd, built once by TestMain.
var bins *bintest.Programs

func TestMain(m *testing.M) {
	var remove func()
	var err error
	if bins, remove, err = bintest.Build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := brokertest.Run(m)
	remove()
	os.Exit(code)
}
