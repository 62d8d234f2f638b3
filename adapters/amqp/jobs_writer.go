package amqp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Group commit: the records a Transport stores while its previous write
// waits for the broker's confirm go out together, as one message of the
// results stream (a batch: "TB" 1, then each record's length and body).
// A record stored alone waits for nobody (one record, one message); under
// load a message carries many, so that the stream holds, and every reader
// reads, far fewer messages than records: the broker's per-message cost is
// what bounds how fast `topicrpc jobs` reads (docs/BENCHMARKS.md).
const (
	batchMagic0, batchMagic1 = 'T', 'B'
	batchVersion             = 1
	// maxBatchRecords and maxBatchBytes bound one message.
	maxBatchRecords = 512
	maxBatchBytes   = 1 << 20
	// flushTimeout bounds one batch's write: the waiters' own contexts
	// bound their waits; this keeps a batch from waiting forever for a
	// broker that never confirms.
	flushTimeout = 30 * time.Second
)

// jobWriter queues the records of a Transport for the results stream.
type jobWriter struct {
	mu      sync.Mutex
	queue   []pendingJob
	writing bool // some StoreJob is writing batches: it takes the queue
}

type pendingJob struct {
	body []byte
	done chan error // buffered: the writer never waits for the waiter
}

// StoreJob implements ports.JobStore: the record goes out in the next
// message to the jobs exchange, persistent and confirmed, alone or with
// others stored meanwhile (group commit). While the Transport reconnects it
// waits, at most until ctx ends; a record whose wait ended with ctx may
// still be stored.
func (t *Transport) StoreJob(ctx context.Context, rec domain.JobRecord) error {
	if !domain.ClipRecord(&rec, t.cfg.Jobs.MaxRecord) {
		return fmt.Errorf("store job %s: %w (%d bytes, at most %d)", rec.CallID, ports.ErrRecordTooLarge, rec.RecordSize(), t.cfg.Jobs.MaxRecord)
	}
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	if t.closed.Load() {
		return fmt.Errorf("store job %s: %w", rec.CallID, ports.ErrClosed)
	}
	p := pendingJob{body: encodeJob(&rec), done: make(chan error, 1)}
	w := &t.jobw
	w.mu.Lock()
	w.queue = append(w.queue, p)
	write := !w.writing
	w.writing = true
	w.mu.Unlock()
	if write {
		t.writeBatches(ctx)
	}
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("store job %s: %w", rec.CallID, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store job %s: %w", rec.CallID, ctx.Err())
	}
}

// writeBatches writes the queue, a batch at a time, until it is empty.
func (t *Transport) writeBatches(ctx context.Context) {
	w := &t.jobw
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	for {
		w.mu.Lock()
		n, size := 0, 0
		for n < len(w.queue) && n < maxBatchRecords && (n == 0 || size+len(w.queue[n].body) <= maxBatchBytes) {
			size += len(w.queue[n].body)
			n++
		}
		if n == 0 {
			w.writing = false
			w.mu.Unlock()
			return
		}
		batch := make([]pendingJob, n)
		copy(batch, w.queue[:n])
		w.queue = append(w.queue[:0], w.queue[n:]...)
		w.mu.Unlock()
		err := t.publishJobs(fctx, batchBody(batch))
		for _, p := range batch {
			p.done <- err
		}
	}
}

// batchBody is the message body of the records of batch: the record's own
// when alone, else a batch.
func batchBody(batch []pendingJob) []byte {
	if len(batch) == 1 {
		return batch[0].body
	}
	n := 3
	for _, p := range batch {
		n += len(p.body) + binary.MaxVarintLen32
	}
	b := append(make([]byte, 0, n), batchMagic0, batchMagic1, batchVersion)
	for _, p := range batch {
		b = append(binary.AppendUvarint(b, uint64(len(p.body))), p.body...)
	}
	return b
}

// publishJobs publishes body to the jobs exchange on the results store's
// connection (jobs_conn.go), trying again on a new one when it broke.
func (t *Transport) publishJobs(ctx context.Context, body []byte) error {
	msg := amqp.Publishing{ContentType: jobContentType, DeliveryMode: amqp.Persistent, Body: body}
	wait := storeRetry
	for {
		l, err := t.jobsLink(ctx)
		if err != nil {
			return err
		}
		err = t.ensureJobs(ctx, l)
		var pub *publisher
		if err == nil {
			pub, err = t.jobsPublisher(l)
		}
		if err == nil {
			_, err = pub.publish(ctx, t.cfg.jobsExchange(), "", &msg, false)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ports.ErrClosed), ctx.Err() != nil:
			return err
		case l.down():
			// The store was not ready (a stream just declared), or the
			// connection broke: a new connection, after a pause.
			if wait, err = retryStore(ctx, wait); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// splitJobs calls fn with each record body in a message body: the body
// itself, or each of a batch's. A batch that cannot be split is an error
// (its records are lost to readers); fn's errors are fn's to report.
func splitJobs(body []byte, fn func([]byte)) error {
	if len(body) < 3 || body[0] != batchMagic0 || body[1] != batchMagic1 {
		fn(body)
		return nil
	}
	if body[2] != batchVersion {
		return fmt.Errorf("%w: batch of version %d, this reader knows %d", errMalformed, body[2], batchVersion)
	}
	b := body[3:]
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return fmt.Errorf("%w: batch: a record runs past the end", errMalformed)
		}
		fn(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return nil
}
