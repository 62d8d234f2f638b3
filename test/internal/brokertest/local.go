package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// localBootTimeout bounds the boot of a private node.
// A node boots in about 5 s on an idle machine; 2 cores busy compiling other
// test packages can make that 25 s.
const localBootTimeout = 2 * time.Minute

// startLocal boots a throwaway private node with scripts/broker.sh. The node
// gets a unique name and a temporary directory; broker.sh's watchdog kills it
// if this process dies without calling stop.
func startLocal(ctx context.Context) (*Broker, func(), error) { return StartLocal(ctx) }

// StartLocal boots a throwaway private node of the installed rabbitmq-server
// with scripts/broker.sh, as Start does when no broker is named, whatever
// the environment names: for tests that need a node of their own, such as
// one with a TLS listener. env holds extra settings for broker.sh
// (TOPICRPC_BROKER_TLS_PORT=free, TOPICRPC_BROKER_EXTRA_CONF=...). The
// returned function kills the node and deletes its directory. It fails with
// an error wrapping ErrNoBroker when rabbitmq-server is not installed.
func StartLocal(ctx context.Context, env ...string) (*Broker, func(), error) {
	b, stop, err := startLocalEnv(ctx, env)
	if errors.Is(err, errUnavailable) {
		err = fmt.Errorf("%w: %w", ErrNoBroker, err)
	}
	return b, stop, err
}

func startLocalEnv(ctx context.Context, extra []string) (*Broker, func(), error) {
	script, err := brokerScript()
	if err != nil {
		return nil, nil, err
	}
	if !localInstalled(script) {
		return nil, nil, fmt.Errorf("rabbitmq-server is not installed: %w", errUnavailable)
	}

	// broker.sh adopts an empty directory and deletes it on kill, also when
	// its watchdog does the killing.
	dir, err := os.MkdirTemp("", "topicrpc-brokertest-")
	if err != nil {
		return nil, nil, fmt.Errorf("make state directory: %w", err)
	}
	name := "topicrpc-test-" + strconv.Itoa(os.Getpid()) + "-" + randomHex(3)

	bootTimeout := localBootTimeout
	if deadline, ok := ctx.Deadline(); ok {
		bootTimeout = min(bootTimeout, time.Until(deadline)-5*time.Second)
	}
	if bootTimeout < 10*time.Second {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start %s: less than 10s left to boot it: %w", name, context.DeadlineExceeded)
	}
	env := brokerEnv(append([]string{
		"TOPICRPC_BROKER_NAME=" + name,
		"TOPICRPC_BROKER_DIR=" + dir,
		"TOPICRPC_BROKER_OWNER_PID=" + strconv.Itoa(os.Getpid()),
		"TOPICRPC_BROKER_TIMEOUT=" + strconv.Itoa(int(bootTimeout/time.Second)),
	}, extra...)...)

	stop := sync.OnceFunc(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// kill, not stop: the node is thrown away, so a graceful shutdown
		// (about 8 s) buys nothing.
		_, _ = runScript(sctx, script, env, "kill")
		_ = os.RemoveAll(dir)
	})
	if out, err := runScript(ctx, script, env, "start"); err != nil {
		stop()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, nil, fmt.Errorf("start %s with %s: %w\n%s", name, script, err, out)
	}
	amqpURL, err1 := readLine(filepath.Join(dir, "url"))
	mgmtURL, err2 := readLine(filepath.Join(dir, "management-url"))
	if err := errors.Join(err1, err2); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	b := &Broker{URL: amqpURL, ManagementURL: mgmtURL, Source: SourceLocal}
	if fileExists(filepath.Join(dir, "amqps-url")) {
		if b.TLSURL, err = readLine(filepath.Join(dir, "amqps-url")); err != nil {
			stop()
			return nil, nil, fmt.Errorf("start %s: %w", name, err)
		}
	}
	return b, stop, nil
}

// brokerScript locates scripts/broker.sh: relative to this source file, or
// else (a -trimpath build) in the first parent of the working directory that
// holds it.
func brokerScript() (string, error) {
	const rel = "scripts/broker.sh"
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "..", "..", "..", rel)
		if fileExists(p) {
			return filepath.Clean(p), nil
		}
		tried = append(tried, p)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			p := filepath.Join(d, rel)
			if fileExists(p) {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		tried = append(tried, filepath.Join(wd, "...", rel))
	}
	return "", fmt.Errorf("%s not found (looked at %s): %w", rel, strings.Join(tried, ", "), errUnavailable)
}

// localInstalled reports whether broker.sh finds a rabbitmq-server.
func localInstalled(script string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := runScript(ctx, script, brokerEnv(), "installed")
	return err == nil
}

// runScript runs broker.sh and returns its combined output. Cancelling ctx
// sends SIGTERM, which broker.sh answers by killing a half-booted node.
func runScript(ctx context.Context, script string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return bytes.TrimSpace(out.Bytes()), err
}

// brokerEnv is this process's environment without TOPICRPC_BROKER_* settings
// (the caller's node name, ports or directory must not leak in), plus extra.
func brokerEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOPICRPC_BROKER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func readLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
