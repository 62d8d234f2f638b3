package brokertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// mainStartTimeout bounds Main's search for a broker; pulling the container
// image on a slow link is the long case.
const mainStartTimeout = 5 * time.Minute

// current is what Main found: set once in TestMain before m.Run, read by Get
// from the tests. It is package-level state because TestMain has no other way
// to hand a value to the tests of its package.
var current atomic.Pointer[found]

type found struct {
	broker *Broker
	reason string // why there is no broker, when broker is nil
}

// Main is a TestMain for integration test packages: it starts a broker (Start),
// makes it available to Get, runs the tests and stops the broker, then exits.
//
// Without a broker, the tests calling Get are skipped, unless
// TOPICRPC_REQUIRE_BROKER=1: then Main prints the reason and exits 1 without
// running any test. A broker that exists but fails (see Start) always makes
// Main exit 1.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit, for a TestMain with work of its own to do
// before exiting: it returns the exit code.
func Run(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	ctx, cancel := context.WithTimeout(context.Background(), mainStartTimeout)
	b, stop, err := Start(ctx)
	cancel()
	switch {
	case err == nil:
		defer stop()
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "brokertest: using %s broker %s\n", b.Source, redact(b.URL))
		}
		current.Store(&found{broker: b})
	case errors.Is(err, ErrNoBroker) && !testkit.BrokerRequired():
		current.Store(&found{reason: err.Error()})
	default:
		fmt.Fprintf(os.Stderr, "brokertest: %v\n", err)
		if errors.Is(err, ErrNoBroker) {
			fmt.Fprintf(os.Stderr, "brokertest: failing because %s=1\n", EnvRequire)
		}
		return 1
	}
	return m.Run()
}

// Get returns the broker Main found. Without one it ends the test through
// testkit.NoBroker: it skips, or fails when TOPICRPC_REQUIRE_BROKER=1. It
// fails the test if TestMain did not call Main.
func Get(t testing.TB) *Broker {
	t.Helper()
	f := current.Load()
	switch {
	case f == nil:
		t.Fatal("brokertest.Get: the package's TestMain must call brokertest.Main(m)")
	case f.broker == nil:
		testkit.NoBroker(t, f.reason)
	}
	return f.broker
}
