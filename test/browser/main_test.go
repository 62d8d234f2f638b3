// Package browser_test drives the web console (topicrpc web) in a real
// Chromium, headless, with chromedp: the fleet, calls typed into the page,
// a frozen server, an HTML payload, and a broker restart under the page.
// The broker is killed, so TestMain boots a private RabbitMQ node of the
// installed rabbitmq-server (as test/faults does); the browser is the
// installed chromium (testkit.Browser: CI installs it and requires it).
package browser_test

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/test/internal/bintest"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// screenshots is where the pages' screenshots go: a temporary directory
// unless given (make screenshots gives docs/).
var screenshots = flag.String("screenshots", "", "save the pages' screenshots in this directory (default: a temporary one)")

// What TestMain made, or why not. Package state because TestMain has no
// other way to hand a value to the tests.
var (
	node *brokertest.Own[*brokertest.Node]
	bins *bintest.Programs
)

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if node, err = brokertest.Boot("a RabbitMQ node and a browser", 3*time.Minute, brokertest.StartNode); err != nil {
		fmt.Fprintf(os.Stderr, "browser: %v\n", err)
		os.Exit(1)
	}
	code := 0
	if testing.Short() {
		code = m.Run()
	} else {
		var remove func()
		if bins, remove, err = bintest.Build(); err != nil {
			fmt.Fprintf(os.Stderr, "browser: %v\n", err)
			code = 1
		} else {
			code = m.Run()
			remove()
		}
	}
	node.Stop()
	os.Exit(code)
}

// requireNode returns the private node, or ends the test (Own.Require).
func requireNode(t *testing.T) *brokertest.Node {
	t.Helper()
	return node.Require(t)
}
