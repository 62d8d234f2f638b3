package web

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// progressEvery is how often a running call's per-server states are
// looked at (acknowledged, still working); an event goes out when one
// changed.
const progressEvery = 200 * time.Millisecond

// run runs the call l asks for to its end, logging its events: begin,
// progress, one reply per result as it arrives, then summary; or failure
// when the call could not start. ctx ends with the console.
func (c *Console) run(ctx context.Context, l *callLog) {
	defer l.finish()
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	if c.cfg.Vet != nil {
		if err := c.cfg.Vet(ctx, l.CallRequest); err != nil {
			l.add("failure", errorBody{Error: err.Error()})
			return
		}
	}
	call, err := c.cfg.Caller.Call(ctx, l.Target, l.Command, l.options()...)
	if err != nil {
		l.add("failure", errorBody{Error: err.Error()})
		return
	}
	begin := beginView{ID: l.ID, Call: call.ID(), Target: l.Target, Command: l.Command.String(),
		Any: l.Any, Expect: l.Expect, TimeoutMS: ms(l.Timeout), Servers: states(call.Progress(nil), l.Started)}
	if c.cfg.Jobs != nil {
		begin.Job = "/jobs/" + url.PathEscape(call.ID())
	}
	l.add("begin", begin)

	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		c.watchProgress(call, l, stop)
	}()
	for r := range call.Replies() {
		l.add("reply", replyOf(r, time.Since(l.Started)))
	}
	close(stop)
	<-stopped
	s := call.Summary()
	s.Elapsed = max(s.Elapsed, time.Since(l.Started))
	l.add("summary", summaryOf(s, call.Outcomes(), l.Started))
}

// watchProgress logs a progress event whenever a server's state changed
// (acknowledged, working), until stop.
func (c *Console) watchProgress(call *app.Call, l *callLog, stop <-chan struct{}) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var last, outs []domain.Outcome
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		outs = call.Progress(outs[:0])
		if !sameProgress(last, outs) {
			l.add("progress", progressView{ElapsedMS: ms(time.Since(l.Started)), Servers: states(outs, l.Started)})
			last = append(last[:0], outs...)
		}
	}
}

func sameProgress(a, b []domain.Outcome) bool {
	return slices.EqualFunc(a, b, func(x, y domain.Outcome) bool {
		return x.Server == y.Server && x.State == y.State && x.Acked == y.Acked
	})
}
