package app

import (
	"context"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// storingWriter is the ReplyWriter of a request whose caller asked for a
// job (domain.Request.Record) on a transport with a results store: each
// acknowledgement and the result go to the caller first, then to the store
// (ports.JobStore), signed as sent. Progress replies are not stored: the
// first acknowledgement already tells a job's reader that the server was
// working. Storing happens whether or not the caller is still there, so a
// result that comes after the call ended is kept; a failure to store is
// logged, never the reply's.
type storingWriter struct {
	rw    ports.ReplyWriter
	store ports.JobStore
	s     *Server
	req   *domain.Request
}

// Reply implements ports.ReplyWriter.
func (w *storingWriter) Reply(ctx context.Context, r domain.Reply) error {
	r.CallID = w.req.ID
	if r.Server == "" {
		r.Server = w.s.cfg.Name
	}
	err := w.rw.Reply(ctx, r)
	if r.Kind == domain.KindProgress {
		return err
	}
	if serr := w.store.StoreJob(ctx, domain.ReplyRecord(w.req, r, time.Now())); serr != nil {
		w.s.log.Warn("reply not stored in the results store", "call", clip(w.req.ID), "kind", r.Kind.String(), "err", serr)
	}
	return err
}
