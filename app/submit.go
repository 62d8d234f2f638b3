package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// ErrNoJobStore: the transport keeps no results store, so there are no jobs.
var ErrNoJobStore = errors.New("the transport keeps no results store (no jobs)")

// recordTimeout bounds the write of a call's record to the results store.
const recordTimeout = 5 * time.Second

// Submit sends cmd to every server target reaches as a job and returns its
// id at once, without waiting for any reply: the servers store their acks
// and results in the transport's results store, where Jobs reads them. It
// first stores the job's own record (who is expected to answer, found as
// Call finds it), and returns once the store has it and the request is
// published. The request's deadline, how long servers may work on it, is
// ctx's, or now plus ClientConfig.Timeout. It fails as Call does, and with
// ErrNoJobStore when the transport keeps no results store.
func (c *Client) Submit(ctx context.Context, target string, cmd domain.Command, opts ...CallOption) (string, error) {
	store, ok := c.t.(ports.JobStore)
	if !ok {
		return "", fmt.Errorf("call %s: %w", target, ErrNoJobStore)
	}
	if err := validateTarget(target); err != nil {
		return "", fmt.Errorf("call %s: %w", target, err)
	}
	if err := cmd.Validate(); err != nil {
		return "", fmt.Errorf("call %s: %w", target, err)
	}
	if err := checkArgs(cmd.Args, c.cfg.MaxArgs); err != nil {
		return "", fmt.Errorf("call %s: %w", target, err)
	}
	o := applyOptions(opts)
	start := c.now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(c.cfg.Timeout)
	}
	exp := domain.Expectation{Count: o.count}
	if err := c.expect(ctx, target, &o, &exp, start); err != nil {
		return "", fmt.Errorf("call %s: %w", target, err)
	}
	call := &Call{client: c, req: domain.Request{Target: target, Command: cmd, Sent: start, Deadline: deadline,
		Balanced: o.balanced, Record: true}}
	call.req.ID = c.nextID(&call.id, start)
	// The record first: a job whose request went out is never without it.
	if err := store.StoreJob(ctx, c.callRecord(&call.req, &exp, true)); err != nil {
		return "", fmt.Errorf("call %s: record the job: %w", target, err)
	}
	defer c.t.Forget(call.req.ID) // nobody waits for the replies here
	if err := c.send(ctx, call, o.servers); err != nil {
		return "", fmt.Errorf("call %s: %w", target, err)
	}
	return call.req.ID, nil
}

// callRecord is the job record of req, made by its caller.
func (c *Client) callRecord(req *domain.Request, exp *domain.Expectation, async bool) domain.JobRecord {
	return domain.JobRecord{Kind: domain.RecordCall, CallID: req.ID, At: req.Sent, Sent: req.Sent,
		Deadline: req.Deadline, Caller: domain.CallerOf(req), Target: req.Target, Command: req.Command,
		Balanced: req.Balanced, Expected: exp.Servers, Absent: exp.Absent, Known: exp.Known, Async: async}
}

// recordWait bounds how long a call waits for its record to be stored
// before its request goes out (recordFirst): a quarter of the time to
// its deadline at most.
const recordWait = time.Second

// recordFirst stores the call's record before the call's request goes
// out, so that in the store every reply of the job comes after it (what
// Jobs.List relies on to read only the store's newest records). It waits
// for the store's confirm at most recordWait: a store that is slow or
// broken delays a call that long at most, and never fails it. The record
// is then stored in the background (logged when it cannot be), and the
// next calls go out without waiting for theirs until a record is stored
// again, so that a sick store costs one call's wait, not every call's
// (only those jobs may be listed without a reply stored before their
// record). Client.Flush (called when a ClientModule stops) waits for
// records still being stored, so that a caller that exits after its calls
// leaves them stored.
func (c *Call) recordFirst(ctx context.Context, store ports.JobStore, rec domain.JobRecord) {
	cl := c.client
	cl.records.add()
	stored := make(chan struct{})
	go func() {
		defer cl.records.done()
		defer close(stored)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := store.StoreJob(ctx, rec); err != nil {
			cl.log.Warn("call not recorded in the results store", "call", rec.CallID, "err", err)
			return
		}
		if cl.recordsLate.Swap(false) {
			cl.log.Info("the results store takes records again: calls wait for theirs again")
		}
	}()
	wait := min(recordWait, c.req.Deadline.Sub(c.req.Sent)/4)
	if wait <= 0 || cl.recordsLate.Load() { // no time to wait (the call fails or ends at once)
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-stored:
	case <-t.C:
		if !cl.recordsLate.Swap(true) {
			cl.log.Warn("call sent before its record was stored: the results store is slow; calls go out without waiting for their records until it takes one again",
				"call", rec.CallID, "waited", wait)
		}
	case <-ctx.Done():
	}
}

// Flush waits until the records of the recorded calls made so far are
// stored (or failed, with a warning each), at most until ctx ends. Calls
// may go on meanwhile: it returns once none is being recorded.
func (c *Client) Flush(ctx context.Context) error {
	if err := c.records.wait(ctx); err != nil {
		return fmt.Errorf("flush call records: %w", err)
	}
	return nil
}
