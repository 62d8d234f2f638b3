package amqp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

var _ ports.JobStore = (*Transport)(nil)

// The results store on RabbitMQ: one stream, QueuePrefix+"jobs.results"
// (x-queue-type stream: an append-only log, persistent, replicated on a
// cluster, read from an offset without being consumed), fed through the
// durable fanout exchange Exchange+".jobs" (so that caller accounts, which
// may not publish to a queue directly, can write their call records: see
// LeastPrivilege). Its bounds are the stream's own: x-max-age and
// x-max-length-bytes (Config.Jobs), applied a segment at a time
// (x-stream-max-segment-size-bytes, Config.JobSegmentBytes), so the store
// holds at most MaxBytes plus one segment whoever writes to it.
//
// Writing: persistent messages on the transport's publisher, confirmed,
// each holding the records stored while the previous one was being
// written (group commit, jobs_writer.go; codec_jobs.go for a record). Reading (ScanJobs): a consumer on a
// channel of its own, prefetch jobPrefetch, acknowledging in batches, that
// attaches at x-stream-offset = the time to read from (the stream starts at
// the chunk holding it; "first" for the zero time). An AMQP 0-9-1 reader
// cannot tell it has reached a stream's end (queue.declare counts 0
// messages for a stream), so a scan writes a marker record of its own once
// it is attached, and has read everything stored before it began when the
// marker comes back. Markers cost ~40 bytes each and are skipped by
// readers.
//
// The exchange, the stream and its binding are declared by the first
// writer or reader on each connection that may (servers); an account that
// may not finds them, and fails until a server has made them. A stream
// declared earlier with other bounds keeps them (the broker refuses to
// change a queue's arguments): that is logged once.

// jobsStreamSuffix names the stream after QueuePrefix: a server name
// cannot contain the dot.
const jobsStreamSuffix = "jobs.results"

// DefaultJobSegmentBytes is the default Config.JobSegmentBytes.
const DefaultJobSegmentBytes = 16 << 20

// jobPrefetch is how many messages a scan has in flight; jobAckEvery how
// often it acknowledges them (all at once, multiple). Measured on 3.10.8:
// a larger prefetch made the broker wait longer before the first delivery
// (0.6 s at 2,000, 1.2 s at 10,000, under load) and read no faster.
const (
	jobPrefetch = 500
	jobAckEvery = 125
)

func (c Config) jobsExchange() string { return c.Exchange + ".jobs" }
func (c Config) jobsStream() string   { return c.QueuePrefix + jobsStreamSuffix }

// jobsDecl records that the results store is declared on a connection,
// and holds the channel its records are published on.
type jobsDecl struct {
	mu   sync.Mutex
	done atomic.Bool
	pub  *publisher // opened by the first write on the connection (jobsPublisher)
}

// jobsPublisher returns the confirming channel records are published on,
// opening it (again, after the broker closed it) when needed: a channel of
// its own, so that a call's Send never waits behind the confirm of a
// record (confirms come back in order on one channel).
func (t *Transport) jobsPublisher(l *link) (*publisher, error) {
	l.jobs.mu.Lock()
	defer l.jobs.mu.Unlock()
	if p := l.jobs.pub; p != nil && p.err.Load() == nil {
		return p, nil
	}
	p, _, err := openPublisher(l, t.cfg.jobsExchange(), "", false)
	if err != nil {
		return nil, err
	}
	t.wg.Go(func() {
		if e := p.watch(); e != nil {
			t.log.Warn("amqp: the results store's publishing channel closed by the broker; reopened at the next write", "error", e)
		}
	})
	l.jobs.pub = p
	return p, nil
}

// ensureJobs declares the results store on l once.
func (t *Transport) ensureJobs(ctx context.Context, l *link) error {
	if l.jobs.done.Load() {
		return nil
	}
	if err := l.gate.wait(ctx, l.lost, l.failure); err != nil {
		return err
	}
	l.jobs.mu.Lock()
	defer l.jobs.mu.Unlock()
	if l.jobs.done.Load() {
		return nil
	}
	if err := runCtx(ctx, func() error { return t.declareJobs(l.conn) }, func() {}); err != nil {
		return err
	}
	l.jobs.done.Store(true)
	return nil
}

// declareJobs declares the jobs exchange, the stream and the binding, or
// finds them when this account may not.
func (t *Transport) declareJobs(conn *amqp.Connection) error {
	ex, stream := t.cfg.jobsExchange(), t.cfg.jobsStream()
	found, err := declareOrFind(conn, ex, amqp.ExchangeFanout)
	if err != nil {
		return err
	}
	lim := t.cfg.Jobs
	args := amqp.Table{
		"x-queue-type":                    "stream",
		"x-max-age":                       strconv.FormatInt(max(int64(lim.MaxAge/time.Second), 1), 10) + "s",
		"x-max-length-bytes":              lim.MaxBytes,
		"x-stream-max-segment-size-bytes": t.cfg.JobSegmentBytes,
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: open channel: %w", err)
	}
	defer func() { _ = ch.Close() }()
	_, err = ch.QueueDeclare(stream, true, false, false, false, args)
	var e *amqp.Error
	switch {
	case err == nil:
	case errors.As(err, &e) && (e.Code == amqp.AccessRefused || e.Code == amqp.PreconditionFailed):
		if e.Code == amqp.PreconditionFailed {
			t.log.Warn("amqp: the results stream exists with other bounds; keeping them (delete it to change them)",
				"stream", stream, "err", e.Reason)
		}
		if ch, err = conn.Channel(); err != nil { // the refusal closed the last one
			return fmt.Errorf("amqp: open channel: %w", err)
		}
		defer func() { _ = ch.Close() }()
		if _, err := ch.QueueDeclarePassive(stream, true, false, false, false, nil); err != nil {
			return fmt.Errorf("amqp: results stream %s: this account may not declare it, and it does not exist (start a server first): %w", stream, err)
		}
		return nil
	default:
		return fmt.Errorf("amqp: declare results stream %s: %w", stream, err)
	}
	if found {
		return nil // a caller account: binding is the servers' to do
	}
	if err := ch.QueueBind(stream, "", ex, false, nil); err != nil {
		return fmt.Errorf("amqp: bind results stream %s to %s: %w", stream, ex, err)
	}
	return nil
}

// jobContentType labels job records in the stream.
const jobContentType = "application/x-topicrpc-job"

// ScanJobs implements ports.JobStore, on the results store's own
// connection (jobs_conn.go). A connection lost while it reads ends it with
// an error wrapping ErrConnectionLost. An entry (JobScan.Back) is one
// message of the stream; the end is found by reading the stream's last
// chunk first (jobsEnd).
func (t *Transport) ScanJobs(ctx context.Context, s ports.JobScan, fn func(*domain.JobRecord) bool) (bool, error) {
	if t.closed.Load() {
		return false, fmt.Errorf("scan jobs: %w", ports.ErrClosed)
	}
	var l *link
	var ch *amqp.Channel
	var deliveries <-chan amqp.Delivery
	var offset any = "first"
	first := true
	for wait := storeRetry; ; {
		var err error
		if l, err = t.jobsLink(ctx); err != nil {
			return false, fmt.Errorf("scan jobs: %w", err)
		}
		if err = t.ensureJobs(ctx, l); err == nil {
			offset, first, err = t.scanStart(ctx, l, s)
		}
		if err == nil {
			ch, deliveries, err = t.attachJobs(ctx, l, offset)
		}
		if err == nil {
			break
		}
		if !l.down() || ctx.Err() != nil {
			return false, fmt.Errorf("scan jobs: %w", err)
		}
		if wait, err = retryStore(ctx, wait); err != nil { // the store was not ready: a new connection
			return false, fmt.Errorf("scan jobs: %w", err)
		}
	}
	defer func() { _ = ch.Close() }()
	// The marker goes in once the consumer is attached: even a reader
	// attached at the stream's end (a time later than its last chunk) sees it.
	mark, err := t.storeMark(ctx)
	if err != nil {
		return false, fmt.Errorf("scan jobs: %w", err)
	}
	n := 0
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-deliveries:
		case <-ctx.Done():
			return first, fmt.Errorf("scan jobs: %w", ctx.Err())
		case <-l.lost:
			return first, fmt.Errorf("scan jobs: %w", l.failure())
		}
		if !ok {
			if l.down() {
				return first, fmt.Errorf("scan jobs: %w", ErrConnectionLost)
			}
			return first, fmt.Errorf("scan jobs: the broker closed the stream's channel")
		}
		if n++; n%jobAckEvery == 0 {
			_ = d.Ack(true)
		}
		if want, ok := offset.(int64); ok && n == 1 {
			// Attached at a number before the stream's first entry kept
			// (retention dropped it), the broker starts at that entry.
			got, _ := d.Headers["x-stream-offset"].(int64)
			first = got > want
		}
		stop := false
		err := splitJobs(d.Body, func(body []byte) {
			if stop {
				return
			}
			rec, err := decodeJob(body)
			switch {
			case err != nil:
				t.log.Warn("amqp: skipped a job record that cannot be read", "stream", t.cfg.jobsStream(),
					"offset", d.Headers["x-stream-offset"], "err", err)
			case rec.Kind == domain.RecordMark && rec.CallID == mark.CallID:
				stop = !fn(nil) || !s.Follow
			case rec.Kind == domain.RecordMark:
			case !fn(&rec):
				stop = true
			}
		})
		if err != nil {
			t.log.Warn("amqp: skipped a batch of job records that cannot be read", "stream", t.cfg.jobsStream(),
				"offset", d.Headers["x-stream-offset"], "err", err)
		}
		if stop {
			return first, nil
		}
	}
}

// storeMark stores a marker record of its own (see the file's comment) and
// returns it.
func (t *Transport) storeMark(ctx context.Context) (domain.JobRecord, error) {
	var token [12]byte
	_, _ = rand.Read(token[:])
	mark := domain.JobRecord{Kind: domain.RecordMark, CallID: "mark-" + hex.EncodeToString(token[:])}
	return mark, t.StoreJob(ctx, mark)
}

// scanStart is the x-stream-offset a scan attaches at, and whether that is
// known to be the stream's first entry kept.
func (t *Transport) scanStart(ctx context.Context, l *link, s ports.JobScan) (any, bool, error) {
	switch {
	case s.Back > 0:
		end, err := t.jobsEnd(ctx, l)
		if err != nil {
			return nil, false, err
		}
		if start := end - int64(s.Back); start > 0 {
			return start, false, nil
		}
		return "first", true, nil
	case !s.From.IsZero():
		return s.From, false, nil
	}
	return "first", true, nil
}

// jobsEnd is about the offset of the stream's end: the first offset of its
// last chunk, read by a consumer attached at "last" (a marker of its own
// comes when the stream is empty).
func (t *Transport) jobsEnd(ctx context.Context, l *link) (int64, error) {
	ch, deliveries, err := t.attachJobs(ctx, l, "last")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ch.Close() }()
	if _, err := t.storeMark(ctx); err != nil {
		return 0, err
	}
	select {
	case d, ok := <-deliveries:
		if !ok {
			return 0, fmt.Errorf("the broker closed the stream's channel")
		}
		end, ok := d.Headers["x-stream-offset"].(int64)
		if !ok {
			return 0, fmt.Errorf("amqp: read results stream %s: a message without its offset (x-stream-offset %T)", t.cfg.jobsStream(), d.Headers["x-stream-offset"])
		}
		return end, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-l.lost:
		return 0, l.failure()
	}
}

// attachJobs consumes the results stream from offset (an x-stream-offset:
// "first", "last", a number or a time) on a channel of its own.
func (t *Transport) attachJobs(ctx context.Context, l *link, offset any) (*amqp.Channel, <-chan amqp.Delivery, error) {
	var ch *amqp.Channel
	var deliveries <-chan amqp.Delivery
	err := runCtx(ctx, func() error {
		c, err := l.conn.Channel()
		if err != nil {
			return fmt.Errorf("amqp: open channel: %w", err)
		}
		if err := c.Qos(jobPrefetch, 0, false); err != nil {
			_ = c.Close()
			return fmt.Errorf("amqp: prefetch on the results stream: %w", err)
		}
		d, err := c.Consume(t.cfg.jobsStream(), "", false, false, false, false, amqp.Table{"x-stream-offset": offset})
		if err != nil {
			_ = c.Close()
			return fmt.Errorf("amqp: read results stream %s: %w", t.cfg.jobsStream(), err)
		}
		ch, deliveries = c, d
		return nil
	}, func() { _ = ch.Close() })
	return ch, deliveries, err
}
