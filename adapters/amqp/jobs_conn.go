package amqp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/ports"
)

// The results store has a connection of its own, dialled at its first use
// and again whenever it broke. Measured on 3.10.8: a stream just declared
// by another process is not ready at once, and a publish to it then fails
// with a connection-level exception (506 RESOURCE_ERROR "Stream not found",
// or 541 INTERNAL_ERROR) that closes the whole connection: on the
// Transport's own connection that took every call in flight with it (their
// replies arrive on it) and every server's consumer. On its own connection
// a store that is not ready costs only a retry (storeRetry). It is named
// apart: Config.ConnectionName + " (results store)".

// jobsConn holds the results store's connection.
type jobsConn struct {
	mu sync.Mutex
	l  *link // nil until first used, or down until redialled
}

// storeRetry is how long a write waits before trying a store whose
// connection broke again, doubling up to storeRetryMax.
const (
	storeRetry    = 50 * time.Millisecond
	storeRetryMax = time.Second
)

// jobsLink returns the results store's connection, dialling it if needed.
func (t *Transport) jobsLink(ctx context.Context) (*link, error) {
	t.jc.mu.Lock()
	defer t.jc.mu.Unlock()
	if t.closed.Load() {
		return nil, ports.ErrClosed
	}
	if l := t.jc.l; l != nil && !l.down() {
		return l, nil
	}
	conn, node, err := t.jobsD.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp: connect for the results store: %w", err)
	}
	l := newLink(conn, node)
	t.watchLink(l)
	t.jc.l = l
	return l, nil
}

// prepareJobs readies the results store for its first use
// (Config.PrepareJobs): its connection, the declarations, the publishing
// channel. A failure is left to the first use, which tries again.
func (t *Transport) prepareJobs() {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
	defer cancel()
	l, err := t.jobsLink(ctx)
	if err == nil {
		err = t.ensureJobs(ctx, l)
	}
	if err == nil {
		_, err = t.jobsPublisher(l)
	}
	if err != nil && !t.closed.Load() {
		t.log.Debug("amqp: results store not readied ahead; its first use tries again", "err", err)
	}
}

// closeJobsLink closes the results store's connection, if any.
func (t *Transport) closeJobsLink() {
	t.jc.mu.Lock()
	l := t.jc.l
	t.jc.mu.Unlock()
	if l != nil {
		l.markLost(ports.ErrClosed)
		_ = l.conn.CloseDeadline(time.Now().Add(t.cfg.DialTimeout))
	}
}

// retryStore waits before the next try at the store, at most until ctx
// ends, and returns the next wait.
func retryStore(ctx context.Context, wait time.Duration) (time.Duration, error) {
	select {
	case <-time.After(wait):
		return min(2*wait, storeRetryMax), nil
	case <-ctx.Done():
		return wait, ctx.Err()
	}
}
