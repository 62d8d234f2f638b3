package brokertest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Shutdown stops the node's Erlang VM the way an operator's restart does:
// SIGTERM, on which RabbitMQ closes its connections and flushes its state
// to disk. It returns once the VM is gone, within a minute. Boot the node
// again with RestartKeepingData.
func (n *Node) Shutdown() error {
	raw, err := readLine(filepath.Join(n.dir, "beam.pid"))
	if err != nil {
		return fmt.Errorf("shut down node: %w", err)
	}
	pid, err := strconv.Atoi(raw)
	if err != nil || pid <= 1 {
		return fmt.Errorf("shut down node: bad pid %q in beam.pid", raw)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("shut down node (pid %d): %w", pid, err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
	}
	return fmt.Errorf("shut down node (pid %d): still running a minute after SIGTERM", pid)
}
