package brokertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is a private RabbitMQ node of the installed rabbitmq-server that one
// test process owns outright, for fault tests: unlike the broker Start finds,
// which the environment may name and other tests share, it may be killed
// like a crashed broker and started again, on the same ports, so that
// clients find it at the same URL.
//
// A Node is not safe for concurrent use.
type Node struct {
	// URL is the node's AMQP URL, credentials included.
	URL string
	// ManagementURL is its management HTTP API, credentials included.
	ManagementURL string

	script  string
	dir     string
	env     []string // broker.sh settings; fixed ports once the first start chose them
	stopped bool
}

// StartNode boots a private node with scripts/broker.sh: a unique name, a
// temporary directory, free ports, and a watchdog that kills it if this
// process dies without calling Stop. It fails with an error wrapping
// ErrNoBroker when rabbitmq-server is not installed. ctx bounds the boot.
func StartNode(ctx context.Context) (*Node, error) {
	script, err := brokerScript()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBroker, err)
	}
	if !localInstalled(script) {
		return nil, fmt.Errorf("%w: rabbitmq-server is not installed (apt-get install -y rabbitmq-server)", ErrNoBroker)
	}
	dir, err := os.MkdirTemp("", "topicrpc-node-")
	if err != nil {
		return nil, fmt.Errorf("make state directory: %w", err)
	}
	n := &Node{script: script, dir: dir, env: []string{
		"TOPICRPC_BROKER_NAME=topicrpc-node-" + strconv.Itoa(os.Getpid()) + "-" + randomHex(3),
		"TOPICRPC_BROKER_DIR=" + dir,
		"TOPICRPC_BROKER_OWNER_PID=" + strconv.Itoa(os.Getpid()),
	}}
	if err := n.start(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	// Pin the ports the first start chose, so that a restart keeps the URLs.
	amqpPort, err1 := port(n.URL)
	mgmtPort, err2 := port(n.ManagementURL)
	if err := errors.Join(err1, err2); err != nil {
		n.Stop()
		return nil, err
	}
	n.env = append(n.env, "TOPICRPC_BROKER_PORT="+amqpPort, "TOPICRPC_BROKER_MANAGEMENT_PORT="+mgmtPort)
	return n, nil
}

// start runs broker.sh start and reads the node's URLs.
func (n *Node) start(ctx context.Context) error {
	timeout := localBootTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline)-2*time.Second)
	}
	if timeout < 5*time.Second {
		return fmt.Errorf("start node in %s: less than 5s left: %w", n.dir, context.DeadlineExceeded)
	}
	env := brokerEnv(append(n.env, "TOPICRPC_BROKER_TIMEOUT="+strconv.Itoa(int(timeout/time.Second)))...)
	if out, err := runScript(ctx, n.script, env, "start"); err != nil {
		return fmt.Errorf("start node in %s with %s: %w\n%s", n.dir, n.script, err, out)
	}
	amqpURL, err1 := readLine(filepath.Join(n.dir, "url"))
	mgmtURL, err2 := readLine(filepath.Join(n.dir, "management-url"))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("start node in %s: %w", n.dir, err)
	}
	n.URL, n.ManagementURL = amqpURL, mgmtURL
	return nil
}

// Kill sends SIGKILL to the node's Erlang VM, as a crash or the OOM killer
// would: connections drop without a close frame. It returns once the AMQP
// port no longer accepts connections, within 10 s.
func (n *Node) Kill() error {
	raw, err := readLine(filepath.Join(n.dir, "beam.pid"))
	if err != nil {
		return fmt.Errorf("kill node: %w", err)
	}
	pid, err := strconv.Atoi(raw)
	if err != nil || pid <= 1 {
		return fmt.Errorf("kill node: bad pid %q in beam.pid", raw)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill node (pid %d): %w", pid, err)
	}
	u, err := url.Parse(n.URL)
	if err != nil {
		return fmt.Errorf("kill node: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("kill node (pid %d): %s still accepts connections after 10s", pid, u.Host)
}

// Restart boots the node again after Kill, with the same name, directory
// and ports, so URL and ManagementURL stay valid. broker.sh boots it afresh:
// the queues, exchanges and bindings it had are gone, as on a node that
// lost its disk, and clients must declare them again. ctx bounds the boot.
func (n *Node) Restart(ctx context.Context) error {
	urls := n.URL + " " + n.ManagementURL
	if err := n.start(ctx); err != nil {
		return err
	}
	if now := n.URL + " " + n.ManagementURL; now != urls {
		return fmt.Errorf("restart node: URLs changed from %s to %s", redactAll(urls), redactAll(now))
	}
	return nil
}

// RestartKeepingData boots the node again after Kill on the data it had, as
// a broker restart does: durable queues and exchanges, their bindings and
// persistent messages are back. ctx bounds the boot.
func (n *Node) RestartKeepingData(ctx context.Context) error {
	env := n.env
	n.env = append(append([]string(nil), env...), "TOPICRPC_BROKER_KEEP_DATA=1")
	defer func() { n.env = env }()
	return n.Restart(ctx)
}

// Stop kills the node and deletes its directory. It is idempotent.
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = runScript(ctx, n.script, brokerEnv(n.env...), "kill")
	_ = os.RemoveAll(n.dir)
}

// port returns the port of a URL.
func port(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Port() == "" {
		return "", fmt.Errorf("no port in %s", redact(raw))
	}
	return u.Port(), nil
}

func redactAll(s string) string {
	f := strings.Fields(s)
	for i := range f {
		f[i] = redact(f[i])
	}
	return strings.Join(f, " ")
}
