package amqp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/ports"
)

// consumer is one queue consumed for as long as its owner wants, across
// connections: a queue of a Serve (the server's own or a work group's, see
// servedQueue) or the exclusive queue of a WatchPresence (presenceWatcher).
// It does what they have in common; its kind (consumerKind) does the rest.
//
// A consumer lives in generations (generation): on each connection, a
// consumer tag on the channel it shares with others (sharedChan), and the
// workers handling what that tag delivers. A runner goroutine follows it
// from one generation to the next. When a generation ends for any reason
// but Close (the connection broke, the broker closed the channel, or the
// broker cancelled the consumer because its queue was deleted), the runner
// declares, binds and consumes again on the live connection, waiting for
// the supervisor's next one if need be and retrying with backoff while
// that fails (Transport.redo). After a channel error or a cancel it first
// waits a backoff, which starts afresh only once a generation has lasted
// reconnectMax, so that a channel that keeps breaking is not set up again
// in a tight loop. After a cancel the other consumers of the channel go on
// meanwhile: the queue is declared again on a short-lived channel of its
// own, so that a failure there closes only that one.
//
// Deliveries are settled on the channel that delivered them and on no
// other: a generation's acks never go out on a later generation's channel.
// Delivery is at least once: what a generation's workers had not settled
// when its channel closed goes back to the queue.
//
// Close stops taking deliveries (basic.cancel), waits for the workers until
// its ctx ends, then cancels the handlers' context and gives the channel
// back; when the Transport closes, abort stops the consumer without
// waiting. Close and abort are safe for concurrent use with each other and
// with the runner.
type consumer struct {
	t    *Transport
	kind consumerKind
	spec consumerSpec
	log  *slog.Logger

	ctx      context.Context // parent of the handlers' contexts
	cancel   context.CancelFunc
	quitCtx  context.Context // ends when Close, or the Transport's, begins: ends a resumption in progress
	quit     context.CancelFunc
	stopping atomic.Bool    // set by Close and abort (under mu): what is delivered from then on is settled, not handled
	paused   atomic.Bool    // between generations: the last one ended, the next is not consuming yet (Transport.Ready)
	running  sync.WaitGroup // the runner and the workers of every generation
	done     chan struct{}  // closed when the runner and every worker have returned

	mu  sync.Mutex
	gen *generation // the current generation

	closeOnce sync.Once
	closeErr  error
}

// consumerKind is what differs between consumers: where their channel and
// queue come from, what a delivery means, and what they log.
type consumerKind interface {
	// channel readies l for the consumer (declares what every consumer of
	// its kind needs on the connection) and returns the holder of the
	// channel it shares on l.
	channel(l *link) (*chanHolder, error)
	// declare declares the queue and its bindings on ch and returns the
	// queue's name. It runs alone on the shared channel (sharedChan.rpc),
	// or on a short-lived channel after the broker cancelled the consumer.
	declare(l *link, ch *amqp.Channel) (queue string, err error)
	// work handles g's deliveries until they end, settling each on g's
	// channel (generation.settle). Each of the consumer's workers calls it,
	// concurrently. Once the consumer is stopping (generation.stopping),
	// what still arrives is settled, not handled.
	work(g *generation)
	// paused logs why g ended, when neither Close nor the Transport's
	// ended it.
	paused(g *generation, end genEnd, e *amqp.Error)
	// resumed logs that g, a new generation, has started.
	resumed(g *generation)
	// stopped logs that Close has stopped the consumer, g being its last
	// generation; cancelErr says why the consumer could not be cancelled
	// (nil if it was, or if its channel was closed anyway).
	stopped(g *generation, cancelErr error)
}

// consumerSpec is how a consumer consumes, and how it names itself.
type consumerSpec struct {
	what      string // names the consumer in errors: "serve topicrpc.q1"
	noun      string // names it in Close's error, before its queue: "subscription"
	busy      string // what Close waits for, in its error: "handlers"
	log       *slog.Logger
	workers   int    // goroutines calling work on each generation
	prefetch  int    // the consumer's prefetch count (basic.qos, per consumer)
	exclusive bool   // consume exclusively
	tagPrefix string // starts each generation's consumer tag
	// serial starts a generation's workers only once the last generation's
	// have returned, and has the runner return only then: with one worker,
	// work is never called concurrently with itself, and Transport.Close,
	// which waits for the runners, waits for a delivery being handled.
	serial bool
}

// newConsumer returns a consumer of kind, not yet set up; the handlers'
// contexts carry ctx's values.
func newConsumer(ctx context.Context, t *Transport, kind consumerKind, spec consumerSpec) *consumer {
	c := &consumer{t: t, kind: kind, spec: spec, log: spec.log, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.quitCtx, c.quit = context.WithCancel(t.ctx)
	return c
}

// generation is a consumer on one channel: its consumer tag there, and the
// handlers of what that tag delivered. Acks and replies go out on the
// channel the delivery came from, never on a later generation's: delivery
// tags belong to their channel, and acknowledging an old tag on a new
// channel would settle another delivery or close the channel. A generation
// that follows a cancelled consumer may share its predecessor's channel;
// the tags of both stay valid on it.
type generation struct {
	c          *consumer
	link       *link
	sc         *sharedChan // the channel that delivers, shared with other consumers
	queue      string
	tag        string // the consumer's tag on sc
	deliveries <-chan amqp.Delivery
	cancelled  <-chan struct{} // closed when the broker cancels the consumer
	idle       chan struct{}   // closed when this generation's workers have returned

	ctx    context.Context // parent of this generation's handlers' contexts
	cancel context.CancelFunc
	gaveUp atomic.Bool // set when handlers in flight are given up on: work queues requeue their requests

	claimMu sync.Mutex
	claimed map[*replyWriter]struct{} // deliveries holding a claim, not yet settled (claims.go)

	releaseOnce sync.Once
}

// queue returns the name of the queue the current generation consumes.
func (c *consumer) queue() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen.queue
}

// stopping reports whether the consumer is stopping: deliveries are to be
// settled from now on, not handled.
func (g *generation) stopping() bool { return g.c.stopping.Load() }

// startConsumers sets cs up on l, in order, on the channel they share,
// bounded by ctx, and runs them; on failure none runs. It fails with
// ports.ErrClosed once the Transport is closed, and wraps
// ErrConnectionLost when the connection broke during the setup.
func (t *Transport) startConsumers(ctx context.Context, l *link, cs []*consumer) error {
	var gens []*generation
	setup := func() (err error) {
		gens, err = setupAll(l, cs)
		return err
	}
	abandon := func() {
		for _, g := range gens {
			g.release()
		}
	}
	if err := runCtx(ctx, setup, abandon); err != nil {
		for _, c := range cs {
			c.stop()
		}
		if l.down() && !errors.Is(err, ports.ErrUnavailable) {
			err = fmt.Errorf("%w (%w)", ErrConnectionLost, err)
		}
		return err
	}
	if !t.runConsumers(cs, gens) {
		for i, c := range cs {
			c.stop()
			gens[i].release()
		}
		return fmt.Errorf("amqp: %s: %w", cs[0].spec.what, ports.ErrClosed)
	}
	return nil
}

// setupAll sets up cs in order on l and returns their first generations;
// on failure it gives back the channel of those already set up.
func setupAll(l *link, cs []*consumer) ([]*generation, error) {
	gens := make([]*generation, 0, len(cs))
	for _, c := range cs {
		g, err := c.setup(l, false)
		if err != nil {
			for _, ok := range gens {
				ok.release()
			}
			return nil, err
		}
		gens = append(gens, g)
	}
	return gens, nil
}

// runConsumers records cs and starts each on its first generation, all
// under t.mu: Close, which aborts them and waits for their runners, sees
// them all or none. It fails once the Transport is closed.
func (t *Transport) runConsumers(cs []*consumer, gens []*generation) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		return false
	}
	for i, c := range cs {
		t.subs[c] = struct{}{}
		c.start(gens[i])
	}
	return true
}

func (t *Transport) removeConsumer(c *consumer) {
	t.mu.Lock()
	delete(t.subs, c)
	t.mu.Unlock()
}

// stop ends a consumer that never started.
func (c *consumer) stop() {
	c.stopping.Store(true)
	c.quit()
	c.cancel()
}

// setup declares and binds the queue and starts consuming it on the
// channel the consumer shares on l, opening it if need be: the consumer's
// next generation, not yet running. With isolate, the declarations go over
// a short-lived channel of their own instead: a failed declaration closes
// its channel, and the other consumers of the shared one must not pay for
// it.
func (c *consumer) setup(l *link, isolate bool) (g *generation, err error) {
	holder, err := c.kind.channel(l)
	if err != nil {
		return nil, err
	}
	sc, err := holder.acquire(l, c.t.log)
	if err != nil {
		return nil, fmt.Errorf("amqp: %s: %w", c.spec.what, err)
	}
	defer func() {
		if err != nil {
			sc.release()
		}
	}()
	var queue string
	declare := func(ch *amqp.Channel) (err error) {
		queue, err = c.kind.declare(l, ch)
		return err
	}
	if isolate {
		err = c.declareApart(l, declare)
	} else {
		err = sc.rpc(declare)
	}
	if err != nil {
		return nil, err
	}
	tag := c.spec.tagPrefix + rand.Text()
	cancelled := sc.watchCancel(tag)
	deliveries, err := sc.consume(queue, tag, c.spec.prefetch, c.spec.exclusive)
	if err != nil {
		sc.forget(tag)
		return nil, fmt.Errorf("amqp: %s: %w", c.spec.what, err)
	}
	g = &generation{c: c, link: l, sc: sc, queue: queue, tag: tag, deliveries: deliveries, cancelled: cancelled,
		idle: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(c.ctx)
	return g, nil
}

// declareApart runs declare on a short-lived channel of its own.
func (c *consumer) declareApart(l *link, declare func(*amqp.Channel) error) error {
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: %s: open channel: %w", c.spec.what, err)
	}
	defer ch.Close()
	return declare(ch)
}

// start makes g the current generation and runs the consumer: g's workers
// and the runner, which resumes on the next connection. Call it under t.mu
// (Transport.runConsumers), so that Transport.Close waits for the runner.
func (c *consumer) start(g *generation) {
	c.mu.Lock()
	c.gen = g
	c.mu.Unlock()
	c.running.Add(1)
	c.startWorkers(g)
	c.t.wg.Go(func() {
		defer c.running.Done()
		c.run(g)
	})
	go func() {
		c.running.Wait()
		close(c.done)
	}()
}

// startWorkers runs g's workers.
func (c *consumer) startWorkers(g *generation) {
	var wg sync.WaitGroup
	for range c.spec.workers {
		c.running.Add(1)
		wg.Go(func() {
			defer c.running.Done()
			c.kind.work(g)
		})
	}
	go func() {
		wg.Wait()
		close(g.idle)
	}()
}

// How a generation ended (generation.wait).
type genEnd uint8

const (
	endClosed       genEnd = iota // its channel closed on purpose: Close, or the Transport's
	endLost                       // the connection broke
	endChannelError               // the broker closed the channel
	endCancelled                  // the broker cancelled the consumer (its queue was deleted)
	endDrained                    // the deliveries ended with the channel open: Close cancelled the consumer
)

// wait returns when g ends, and why (with the broker's error, if any).
// When the channel broke, it first cancels the handlers' contexts: their
// replies can no longer be sent, and the broker requeues their deliveries.
func (g *generation) wait() (genEnd, *amqp.Error) {
	broke := func() (genEnd, *amqp.Error) {
		e := g.sc.closeError()
		if e == nil {
			return endClosed, nil
		}
		g.gaveUp.Store(true)
		g.cancel()
		if g.link.conn.IsClosed() { // set before the connection closes its channels
			return endLost, e // the claims went with the connection
		}
		g.releaseClaims()
		return endChannelError, e
	}
	select {
	case <-g.sc.closed():
		return broke()
	case <-g.cancelled:
		return endCancelled, nil
	case <-g.idle:
		// The library reports a close or a cancel before it ends the
		// deliveries: poll takes in what it reported.
		g.sc.poll()
		select {
		case <-g.sc.closed():
			return broke()
		case <-g.cancelled:
			return endCancelled, nil
		default:
			return endDrained, nil
		}
	}
}

// run follows the consumer from generation to generation (see consumer)
// until it stops.
func (c *consumer) run(g *generation) {
	b := newBackoff()
	since := time.Now()
	for {
		end, e := g.wait()
		c.paused.Store(true)
		if c.spec.serial {
			<-g.idle
		}
		if c.stopping.Load() {
			return
		}
		c.kind.paused(g, end, e)
		if end == endCancelled {
			// The channel is open: let the handlers settle their deliveries.
			go func(old *generation) {
				<-old.idle
				old.release()
				old.cancel()
			}(g)
		} else {
			g.release()
			g.cancel() // its handlers can no longer reply
		}
		if !g.link.down() { // else the supervisor paces reconnections
			if time.Since(since) >= reconnectMax {
				b = newBackoff()
			}
			if !sleepCtx(c.quitCtx, b.next()) {
				return
			}
		}
		var next *generation
		// After a cancel, the other consumers go on on the channel:
		// declare apart from it.
		isolate := end == endCancelled
		ok := c.t.redo(c.quitCtx, c.log, func(l *link) error {
			n, err := c.setup(l, isolate)
			if err != nil {
				return err
			}
			c.mu.Lock()
			if c.stopping.Load() {
				c.mu.Unlock()
				n.release()
				return errStopped
			}
			c.gen = n
			c.startWorkers(n) // under mu: Close cancels this generation's consumer, not the last one's
			c.mu.Unlock()
			next = n
			return nil
		})
		if !ok {
			return
		}
		c.paused.Store(false)
		c.kind.resumed(next)
		g, since = next, time.Now()
	}
}

// settlement is what settle does with a delivery.
type settlement uint8

const (
	settleAck     settlement = iota // done: remove it from the queue
	settleRequeue                   // not done: back to the queue for any consumer
	settleReject                    // unusable: drop it
)

func (s settlement) String() string {
	switch s {
	case settleRequeue:
		return "requeue"
	case settleReject:
		return "reject"
	}
	return "ack"
}

// settle acknowledges, requeues or rejects d on g's channel, the one that
// delivered it, unless the channel is closing: then the broker requeues d
// when the channel closes, and settle returns nil. After an error the
// broker, likewise, redelivers d once the channel closes.
func (g *generation) settle(d *amqp.Delivery, how settlement) error {
	g.sc.chMu.RLock()
	defer g.sc.chMu.RUnlock()
	if g.sc.chClosing {
		return nil
	}
	switch how {
	case settleRequeue:
		return d.Nack(false, true)
	case settleReject:
		return d.Reject(false)
	}
	return d.Ack(false)
}

// Close cancels the consumer (basic.cancel), so the broker delivers no
// more: what its workers still get is settled, not handled (see
// consumerKind.work). It then waits until the workers return or ctx ends,
// cancels the handlers' context, and gives the channel back, the last of
// its users closing it: what was not settled then goes back to the queue.
// It returns ctx's error, wrapped, when workers were still running. It is
// idempotent, and safe for concurrent use.
func (c *consumer) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.close(ctx) })
	return c.closeErr
}

func (c *consumer) close(ctx context.Context) error {
	c.mu.Lock()
	c.stopping.Store(true)
	g := c.gen
	c.mu.Unlock()
	c.quit()
	defer c.t.removeConsumer(c)
	cancelErr := runCtx(ctx, func() error { return g.sc.cancel(g.tag) }, func() {})
	if errors.Is(cancelErr, amqp.ErrClosed) || ctx.Err() != nil {
		cancelErr = nil
	}
	var err error
	select {
	case <-c.done:
	case <-ctx.Done():
		err = fmt.Errorf("amqp: close %s %s: %s still running: %w", c.spec.noun, g.queue, c.spec.busy, ctx.Err())
		g.gaveUp.Store(true)
		// Their requests go back when the channel closes below: their
		// claims first, so that the consumer that takes one may claim it.
		g.releaseClaims()
	}
	c.cancel()
	// Closing waits for the broker's close-ok; do not wait past ctx for it.
	// Closing the channel also ends the deliveries if the broker has not
	// answered the cancel.
	closed := make(chan struct{})
	go func() {
		g.release()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	c.kind.stopped(g, cancelErr)
	return err
}

// abort stops the consumer without waiting: the Transport is closing, and
// its connection, with every channel, with it.
func (c *consumer) abort() {
	c.mu.Lock()
	c.stopping.Store(true)
	g := c.gen
	c.mu.Unlock()
	c.quit()
	if g != nil {
		g.gaveUp.Store(true)
	}
	c.cancel()
}

// release gives g's channel back, once: the last of its users to give it
// back closes it, once the acks and replies being sent on it are out; none
// goes out after.
func (g *generation) release() {
	g.releaseOnce.Do(func() {
		g.sc.forget(g.tag)
		g.sc.release()
	})
}

// consumers is a Serve with work groups: the server's own queue and one
// per work group, closed together.
type consumers []*consumer

// Close implements ports.Subscription: it closes every consumer at once,
// each as consumer.Close does, all bounded by ctx.
func (cs consumers) Close(ctx context.Context) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
