package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// flights are the requests a server is running. One goroutine per server
// sends a progress reply for each flight that has run longer than the
// progress interval, every interval, so the caller knows a long job is still
// being worked on. Safe for concurrent use.
type flights struct {
	mu   sync.Mutex
	set  map[*flight]struct{}
	done chan struct{}
	once sync.Once
}

// flight is one request being run.
type flight struct {
	mu     sync.Mutex
	server string
	start  time.Time
	rw     ports.ReplyWriter
	ended  bool
}

func (fs *flights) init() {
	fs.set = make(map[*flight]struct{})
	fs.done = make(chan struct{})
}

func (fs *flights) begin(server string, start time.Time, rw ports.ReplyWriter) *flight {
	f := &flight{server: server, start: start, rw: rw}
	fs.mu.Lock()
	fs.set[f] = struct{}{}
	fs.mu.Unlock()
	return f
}

// end sends the result and retires the flight, under the flight's lock so
// that no progress reply follows the result.
func (fs *flights) end(ctx context.Context, f *flight, result domain.Reply) error {
	fs.mu.Lock()
	delete(fs.set, f)
	fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	return f.rw.Reply(ctx, result)
}

// progress runs until close, sending progress replies for long flights.
func (fs *flights) progress(every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var due []*flight
	for {
		select {
		case <-fs.done:
			return
		case now := <-t.C:
			due = due[:0]
			fs.mu.Lock()
			for f := range fs.set {
				if now.Sub(f.start) >= every {
					due = append(due, f)
				}
			}
			fs.mu.Unlock()
			for _, f := range due {
				f.mu.Lock()
				if !f.ended {
					ctx, cancel := context.WithTimeout(context.Background(), every)
					if err := f.rw.Reply(ctx, domain.Reply{Server: f.server, Kind: domain.KindProgress,
						Elapsed: now.Sub(f.start)}); err != nil {
						log.Debug("progress not sent", "err", err)
					}
					cancel()
				}
				f.mu.Unlock()
			}
		}
	}
}

func (fs *flights) close() { fs.once.Do(func() { close(fs.done) }) }
