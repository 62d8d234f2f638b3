// Package cluster_test holds the cluster tests: servers and clients on a
// RabbitMQ cluster of three nodes while nodes go down and come back.
// TestMain forms a cluster of private nodes of the installed
// rabbitmq-server that this process owns (brokertest.StartCluster, which
// runs scripts/cluster.sh) once for the package, and kills it at the end:
// forming one takes about 25 s, so the tests share it and stop few nodes.
package cluster_test

import (
	"os"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// cluster is the cluster TestMain formed, or why there is none. Package
// state because TestMain has no other way to hand a value to the tests.
var cluster *brokertest.Own[*brokertest.Cluster]

func TestMain(m *testing.M) {
	os.Exit(brokertest.RunOwn(m, &cluster, "cluster", "a RabbitMQ cluster", 4*time.Minute, brokertest.StartCluster))
}

// requireCluster returns the cluster, or ends the test (Own.Require).
func requireCluster(t *testing.T) *brokertest.Cluster {
	t.Helper()
	return cluster.Require(t)
}
