package brokertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// Own is a broker a test package boots for itself in TestMain — a private
// node (StartNode) or cluster (StartCluster) that its tests may kill — or
// the reason it has none. It is set once before m.Run and only read by the
// tests, so it is safe for their concurrent use.
type Own[B interface{ Stop() }] struct {
	b   B
	ok  bool
	why string // why there is none, when !ok
}

// Boot boots a broker of the package's own with start, bounded by timeout
// (booting a node takes 5 s on an idle machine, up to 25 s on 2 busy cores;
// a cluster about 25 s). Under -short it boots none: the tests skip. When
// no broker is installed it boots none either, and the tests end through
// testkit.NoBroker — unless TOPICRPC_REQUIRE_BROKER=1, or the broker
// exists but fails: then Boot returns an error, and TestMain should print
// it and exit 1 without running the tests. flag.Parse must have run.
func Boot[B interface{ Stop() }](what string, timeout time.Duration, start func(context.Context) (B, error)) (*Own[B], error) {
	if testing.Short() {
		return &Own[B]{why: "-short: these tests need " + what + " of their own"}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	b, err := start(ctx)
	switch {
	case err == nil:
		return &Own[B]{b: b, ok: true}, nil
	case errors.Is(err, ErrNoBroker) && !testkit.BrokerRequired():
		return &Own[B]{why: err.Error()}, nil
	case errors.Is(err, ErrNoBroker):
		return nil, fmt.Errorf("%w (failing because %s=1)", err, EnvRequire)
	}
	return nil, err
}

// Require returns the broker, or ends the test: a skip under -short, else
// through testkit.NoBroker (a failure when CI requires a broker).
func (o *Own[B]) Require(t testing.TB) B {
	t.Helper()
	switch {
	case o.ok:
	case testing.Short():
		t.Skip(o.why)
	default:
		testkit.NoBroker(t, o.why)
	}
	return o.b
}

// Stop stops the broker, if there is one.
func (o *Own[B]) Stop() {
	if o != nil && o.ok {
		o.b.Stop()
	}
}

// RunOwn is a TestMain's body for a package with a broker of its own: it
// parses the flags, boots the broker into *own (Boot), runs the tests and
// stops the broker, and returns the exit code — 1 without running a test
// when Boot fails, saying why on stderr prefixed with pkg.
func RunOwn[B interface{ Stop() }](m *testing.M, own **Own[B], pkg, what string, timeout time.Duration, start func(context.Context) (B, error)) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	o, err := Boot(what, timeout, start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", pkg, err)
		return 1
	}
	*own = o
	defer o.Stop()
	return m.Run()
}
