package app

import (
	"context"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// storingWriter is the ReplyWriter of a request whose caller asked for a
// job (domain.Request.Record) on a transport with a results store: each
// acknowledgement and the result go to the caller, then, in the
// background, to the store (ports.JobStore), signed as sent. Progress
// replies are not stored: the first acknowledgement already tells a job's
// reader that the server was working. Storing happens whether or not the
// caller is still there, so a result that comes after the call ended is
// kept; it never delays a reply, nor the request's settling (a store slow
// to confirm, or declaring its stream, would otherwise hold the result
// back). A failure to store is logged, never the reply's. Server.Stop
// waits for the stores in flight.
type storingWriter struct {
	rw  ports.ReplyWriter
	s   *Server
	req *domain.Request
}

// maxStoring bounds the records a server has on their way to the store:
// past it, a record is dropped with a warning rather than queued without
// bound behind a store that does not keep up.
const maxStoring = 1024

// storeTimeout bounds one record's store.
const storeTimeout = 30 * time.Second

// Reply implements ports.ReplyWriter.
func (w *storingWriter) Reply(ctx context.Context, r domain.Reply) error {
	r.CallID = w.req.ID
	if r.Server == "" {
		r.Server = w.s.cfg.Name
	}
	err := w.rw.Reply(ctx, r)
	if r.Kind != domain.KindProgress {
		w.s.store(domain.ReplyRecord(w.req, r, time.Now()))
	}
	return err
}

// store writes rec to the results store in the background.
func (s *Server) store(rec domain.JobRecord) {
	select {
	case s.storing <- struct{}{}:
	default:
		s.log.Warn("reply not stored in the results store: too many stores in flight", "call", clip(rec.CallID), "limit", maxStoring)
		return
	}
	s.stores.add()
	go func() {
		defer func() {
			<-s.storing
			s.stores.done()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if err := s.jobs.StoreJob(ctx, rec); err != nil {
			s.log.Warn("reply not stored in the results store", "call", clip(rec.CallID), "kind", rec.Reply.Kind.String(), "err", err)
		}
	}()
}

// awaitStores waits for the stores in flight, at most until ctx ends.
func (s *Server) awaitStores(ctx context.Context) { _ = s.stores.wait(ctx) }
