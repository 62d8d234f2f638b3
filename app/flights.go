package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// flights are the requests a server is running. Each flight has a timer of
// its own: a request still running when it fires is acknowledged (unless
// serve already did), then, at every multiple of the progress interval since
// the request was taken, gets a progress reply, so the caller knows a long
// job is still being worked on. A request done before its timer fires sends
// only its result, which is its own acknowledgement. Nothing is shared
// between flights but the pool they are recycled through. Safe for
// concurrent use.
type flights struct {
	server string
	every  time.Duration // the progress interval
	log    *slog.Logger
	obs    ServerObserver
	closed atomic.Bool // set by close: timers firing later send nothing
	// pool recycles the flights whose timer was stopped before it fired,
	// with their timer; a flight whose callback may still run is left to the
	// garbage collector. Per server, so that a timer made in a
	// testing/synctest bubble stays in it.
	pool sync.Pool
}

// flight is one request being run.
type flight struct {
	fs    *flights
	timer *time.Timer // made once, with fire as its callback; reused
	mu    sync.Mutex  // held while a reply goes out: no reply follows the result
	req   *domain.Request
	rw    ports.ReplyWriter
	start time.Time
	acked bool // the ack is sent (by serve, or by the timer)
	ended bool // the result is sent, or is being sent
}

func (fs *flights) init(server string, every time.Duration, log *slog.Logger, obs ServerObserver) {
	fs.server, fs.every, fs.log, fs.obs = server, every, log, obs
}

// begin registers a request taken at start. Its timer fires after ackAfter
// to acknowledge it; a negative ackAfter means serve acknowledged it already,
// and the timer fires at the first progress point instead.
func (fs *flights) begin(start time.Time, req *domain.Request, rw ports.ReplyWriter, ackAfter time.Duration) *flight {
	f, _ := fs.pool.Get().(*flight)
	if f == nil {
		f = &flight{fs: fs}
	}
	// A flight from the pool has no timer pending nor callback running (see
	// end), so nothing else reads these fields; arming the timer publishes them
	// to its callback.
	f.req, f.rw, f.start, f.acked, f.ended = req, rw, start, ackAfter < 0, false
	if ackAfter < 0 {
		ackAfter = fs.every
	}
	if f.timer == nil {
		// Under the lock: the callback, which takes it, may run before
		// AfterFunc returns, and must find f.timer set.
		f.mu.Lock()
		f.timer = time.AfterFunc(ackAfter, f.fire)
		f.mu.Unlock()
	} else {
		f.timer.Reset(ackAfter)
	}
	return f
}

// end retires the flight: once it returns, no ack or progress reply of the
// request goes out (one being sent when end is called is out before end
// returns), so the result the pipeline sends next is the last reply.
func (fs *flights) end(f *flight) {
	f.mu.Lock()
	f.ended = true
	// Stop reports false when the callback has started (it is waiting for
	// the lock, and will find the flight ended) or has run without arming
	// the timer again (after close): then f is not reused.
	stopped := f.timer.Stop()
	f.req, f.rw = nil, nil // kept by neither the pool nor a late callback
	f.mu.Unlock()
	if stopped {
		fs.pool.Put(f)
	}
}

// fire is the timer's callback: unless the result is out (or the server
// stopped), it acknowledges the request or reports progress, and arms the
// timer for the next progress point, start + k × the progress interval.
func (f *flight) fire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs := f.fs
	if f.ended || fs.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fs.every)
	if !f.acked {
		f.acked = true
		err := f.rw.Reply(ctx, domain.Reply{Server: fs.server, Kind: domain.KindAck})
		fs.obs.ReplySent(domain.KindAck, err)
		if err != nil {
			fs.log.Warn("ack not sent", "call", f.req.ID, "command", f.req.Command.Name, "err", err)
		}
	} else {
		err := f.rw.Reply(ctx, domain.Reply{Server: fs.server, Kind: domain.KindProgress, Elapsed: time.Since(f.start)})
		fs.obs.ReplySent(domain.KindProgress, err)
		if err != nil {
			fs.log.Debug("progress not sent", "call", f.req.ID, "err", err)
		}
	}
	cancel()
	elapsed := time.Since(f.start)
	f.timer.Reset((elapsed/fs.every+1)*fs.every - elapsed)
}

// close stops the replies of the flights still running: their timers may
// still fire, and then send nothing.
func (fs *flights) close() { fs.closed.Store(true) }

// acknowledge is the pipeline step that keeps the caller informed while the
// request runs: a request still running ServerConfig.AckDelay after it was
// taken (or halfway to its deadline, if that comes sooner) is acknowledged
// then, and gets progress replies while it runs long; one done sooner sends
// only its result, which tells the caller it was received. With AckAtOnce the
// request is acknowledged before the next step runs. No ack or progress
// reply follows the step's return.
func (s *Server) acknowledge(next Step) Step {
	return func(ctx context.Context, in Inbound) domain.Reply {
		ackAfter := s.cfg.AckDelay
		if !in.Request.Deadline.IsZero() {
			// The caller counts a server silent unless it hears from it by
			// the deadline: a short one moves the ack earlier.
			ackAfter = min(ackAfter, in.Request.Deadline.Sub(in.Taken)/2)
		}
		if ackAfter <= 0 {
			err := in.Replies.Reply(ctx, domain.Reply{Server: s.cfg.Name, Kind: domain.KindAck})
			s.cfg.Observer.ReplySent(domain.KindAck, err)
			if err != nil {
				s.log.Warn("ack not sent", "call", clip(in.Request.ID), "command", clip(in.Request.Command.Name), "err", err)
			}
			ackAfter = -1 // acknowledged
		}
		f := s.flights.begin(in.Taken, in.Request, in.Replies, ackAfter)
		defer s.flights.end(f)
		return next(ctx, in)
	}
}
