// Package cluster_test holds the cluster tests: servers and clients on a
// RabbitMQ cluster of three nodes while nodes go down and come back.
// TestMain forms a cluster of private nodes of the installed
// rabbitmq-server that this process owns (brokertest.StartCluster, which
// runs scripts/cluster.sh) once for the package, and kills it at the end:
// forming one takes about 25 s, so the tests share it and stop few nodes.
package cluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// The cluster TestMain formed, or why there is none. Package state because
// TestMain has no other way to hand a value to the tests.
var (
	cluster   *brokertest.Cluster
	noCluster string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		noCluster = "-short: the cluster tests need a RabbitMQ cluster of their own"
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	c, err := brokertest.StartCluster(ctx)
	cancel()
	switch {
	case err == nil:
		cluster = c
	case errors.Is(err, brokertest.ErrNoBroker) && !testkit.BrokerRequired():
		noCluster = err.Error()
	default:
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		if errors.Is(err, brokertest.ErrNoBroker) {
			fmt.Fprintf(os.Stderr, "cluster: failing because %s=1\n", brokertest.EnvRequire)
		}
		os.Exit(1)
	}
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// requireCluster returns the cluster. Without one it skips the test under
// -short, and otherwise ends it through testkit.NoBroker.
func requireCluster(t *testing.T) *brokertest.Cluster {
	t.Helper()
	switch {
	case cluster != nil:
	case testing.Short():
		t.Skip(noCluster)
	default:
		testkit.NoBroker(t, noCluster)
	}
	return cluster
}
