// Package browser_test drives the web console (topicrpc web) in a real
// Chromium, headless, with chromedp: the fleet, calls typed into the page,
// a frozen server, an HTML payload, and a broker restart under the page.
// The broker is killed, so TestMain boots a private RabbitMQ node of the
// installed rabbitmq-server (as test/faults does); the browser is the
// installed chromium (testkit.Browser: CI installs it and requires it).
package browser_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/bintest"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// screenshots is where the pages' screenshots go: a temporary directory
// unless given (make screenshots gives docs/).
var screenshots = flag.String("screenshots", "", "save the pages' screenshots in this directory (default: a temporary one)")

// What TestMain made, or why not. Package state because TestMain has no
// other way to hand a value to the tests.
var (
	node   *brokertest.Node
	noNode string
	bins   *bintest.Programs
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		noNode = "-short: the browser tests need a RabbitMQ node of their own and a browser"
		os.Exit(m.Run())
	}
	var remove func()
	var err error
	if bins, remove, err = bintest.Build(); err != nil {
		fmt.Fprintf(os.Stderr, "browser: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	n, err := brokertest.StartNode(ctx)
	cancel()
	switch {
	case err == nil:
		node = n
	case errors.Is(err, brokertest.ErrNoBroker) && !testkit.BrokerRequired():
		noNode = err.Error()
	default:
		fmt.Fprintf(os.Stderr, "browser: %v\n", err)
		remove()
		os.Exit(1)
	}
	code := m.Run()
	if node != nil {
		node.Stop()
	}
	remove()
	os.Exit(code)
}

// requireNode returns the private node, or ends the test: a skip under
// -short, else through testkit.NoBroker.
func requireNode(t *testing.T) *brokertest.Node {
	t.Helper()
	switch {
	case node != nil:
	case testing.Short():
		t.Skip(noNode)
	default:
		testkit.NoBroker(t, noNode)
	}
	return node
}
