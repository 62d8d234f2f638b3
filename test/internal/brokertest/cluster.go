package brokertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cluster is a throwaway RabbitMQ cluster of three private nodes of the
// installed rabbitmq-server, run by scripts/cluster.sh: for the tests of
// node failures. It belongs to this process (cluster.sh's watchdogs kill its
// nodes if the process dies without calling Stop). Its methods are safe for
// concurrent use, but run one node operation at a time.
type Cluster struct {
	// URLs are the AMQP URLs of nodes 1, 2 and 3.
	URLs []string
	// ManagementURL is node 1's management API, which sees the whole cluster.
	ManagementURL string

	script string
	env    []string
	mu     sync.Mutex // one node operation at a time
	stop   func()
}

// clusterBootTimeout bounds forming the cluster: three boots side by side
// and two joins, about 25 s on 2 idle cores.
const clusterBootTimeout = 3 * time.Minute

// StartCluster forms a three-node cluster with scripts/cluster.sh, under a
// unique name in a temporary directory. It fails with an error wrapping
// ErrNoBroker when rabbitmq-server is not installed.
func StartCluster(ctx context.Context) (*Cluster, error) {
	script, err := brokerScript()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBroker, err)
	}
	if !localInstalled(script) {
		return nil, fmt.Errorf("%w: rabbitmq-server is not installed", ErrNoBroker)
	}
	script = filepath.Join(filepath.Dir(script), "cluster.sh")
	dir, err := os.MkdirTemp("", "topicrpc-cluster-")
	if err != nil {
		return nil, fmt.Errorf("make state directory: %w", err)
	}
	_ = os.Remove(dir) // cluster.sh makes it, and refuses a directory that is not its own
	boot := clusterBootTimeout
	if deadline, ok := ctx.Deadline(); ok {
		boot = min(boot, time.Until(deadline))
	}
	c := &Cluster{script: script, env: brokerEnv(
		"TOPICRPC_CLUSTER_NAME=topicrpc-cl-"+strconv.Itoa(os.Getpid())+"-"+randomHex(2),
		"TOPICRPC_CLUSTER_DIR="+dir,
		"TOPICRPC_CLUSTER_OWNER_PID="+strconv.Itoa(os.Getpid()),
		"TOPICRPC_BROKER_TIMEOUT="+strconv.Itoa(int(boot/time.Second)),
	)}
	c.stop = sync.OnceFunc(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = runScript(sctx, script, c.env, "kill") // thrown away: no grace needed
		_ = os.RemoveAll(dir)
	})
	if out, err := runScript(ctx, script, c.env, "start"); err != nil {
		c.stop()
		return nil, fmt.Errorf("start a cluster with %s: %w\n%s", script, err, out)
	}
	urls, err := runScript(ctx, script, c.env, "urls")
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("cluster urls: %w\n%s", err, urls)
	}
	c.URLs = strings.Split(string(urls), ",")
	if c.ManagementURL, err = readLine(filepath.Join(dir, "c1", "management-url.kept")); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// Node returns the number (1, 2, 3) of the node whose URL, redacted or
// not, is url; 0 if none.
func (c *Cluster) Node(url string) int {
	for i, u := range c.URLs {
		if u == url || redact(u) == url {
			return i + 1
		}
	}
	return 0
}

// StopNode stops node n (1-3) gracefully, keeping its data: its clients see
// their connections closed by the broker.
func (c *Cluster) StopNode(ctx context.Context, n int) error { return c.node(ctx, "stop-node", n) }

// KillNode kills node n (SIGKILL), keeping its data.
func (c *Cluster) KillNode(ctx context.Context, n int) error { return c.node(ctx, "kill-node", n) }

// StartNode starts node n again on its data and ports: it rejoins the
// cluster.
func (c *Cluster) StartNode(ctx context.Context, n int) error { return c.node(ctx, "start-node", n) }

func (c *Cluster) node(ctx context.Context, op string, n int) error {
	if n < 1 || n > len(c.URLs) {
		return fmt.Errorf("%s: no node %d", op, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if out, err := runScript(ctx, c.script, c.env, op, strconv.Itoa(n)); err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return fmt.Errorf("cluster.sh %s %d: %w\n%s", op, n, err, out)
	}
	return nil
}

// Stop kills every node and deletes the cluster's state. It is idempotent.
func (c *Cluster) Stop() { c.stop() }
