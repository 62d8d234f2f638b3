package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/topicrpc/topicrpc/domain"
)

// liveEvery is how often the live line is redrawn. It first shows after
// that long: a call over by then never shows one.
const liveEvery = 100 * time.Millisecond

// liveLine is the status line on stderr, a terminal, while a call runs:
//
//	2/5 answered · working: q3 1.2s, q4 0.3s · no ack yet: q5 · 1.4s
//
// It is cleared before each reply line is written to stdout and redrawn
// after it, and cleared for good before the summary. A nil *liveLine does
// nothing.
type liveLine struct {
	w     io.Writer
	width func() int
	color bool

	mu       sync.Mutex
	call     callInfo
	p        progress // nil when no call runs
	buf      []domain.Outcome
	shown    bool // a line is on screen
	wasShown bool // it was when pause cleared it
	quit     chan struct{}
	done     chan struct{}
}

// start shows p's progress every liveEvery until stop.
func (l *liveLine) start(c callInfo, p progress) {
	if l == nil {
		return
	}
	l.stop() // a previous call's, if any
	l.mu.Lock()
	l.call, l.p = c, p
	l.quit, l.done = make(chan struct{}), make(chan struct{})
	go l.run(l.quit, l.done)
	l.mu.Unlock()
}

func (l *liveLine) run(quit, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			return
		case <-tick.C:
			l.mu.Lock()
			if l.p != nil {
				l.draw()
			}
			l.mu.Unlock()
		}
	}
}

// pause clears the line so that something else can be written; resume
// puts it back. Nothing is drawn between them.
func (l *liveLine) pause() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.wasShown = l.shown
	l.clear()
}

func (l *liveLine) resume() {
	if l == nil {
		return
	}
	if l.wasShown && l.p != nil {
		l.draw()
	}
	l.mu.Unlock()
}

// stop ends the redrawing and clears the line.
func (l *liveLine) stop() {
	if l == nil {
		return
	}
	l.mu.Lock()
	quit, done := l.quit, l.done
	l.quit, l.done, l.p = nil, nil, nil
	l.clear()
	l.mu.Unlock()
	if quit != nil {
		close(quit)
		<-done
	}
}

func (l *liveLine) clear() {
	if l.shown {
		_, _ = io.WriteString(l.w, "\r\x1b[K")
		l.shown = false
	}
}

func (l *liveLine) draw() {
	l.buf = l.p.Progress(l.buf[:0])
	line := liveText(l.buf, time.Since(l.call.start), time.Now())
	if w := l.width(); w > 1 {
		line = cut(line, w-1) // the last column would wrap on some terminals
	}
	if l.color {
		line = paint(true, colorDim, line)
	}
	_, _ = io.WriteString(l.w, "\r\x1b[K"+line)
	l.shown = true
}

// liveText is the status line for outs, elapsed into the call, at now.
func liveText(outs []domain.Outcome, elapsed time.Duration, now time.Time) string {
	expected, answered, down, stopped := 0, 0, 0, 0
	var working, waiting []string
	for _, o := range outs {
		if o.Expected {
			expected++
		}
		switch {
		case o.State == domain.StateDown:
			down++
		case o.State == domain.StateStopped:
			stopped++
		case o.State != domain.StatePending:
			answered++
		case o.Acked:
			working = append(working, fmt.Sprintf("%s %s", safe(o.Server), round(now.Sub(o.AckedAt))))
		case o.Expected:
			waiting = append(waiting, safe(o.Server))
		}
	}
	var b strings.Builder
	if expected > 0 {
		fmt.Fprintf(&b, "%d/%d answered", answered, expected)
	} else {
		fmt.Fprintf(&b, "%d/? answered", answered)
	}
	if down > 0 {
		fmt.Fprintf(&b, " (%d down)", down)
	}
	if stopped > 0 {
		fmt.Fprintf(&b, " (%d stopped)", stopped)
	}
	if len(working) > 0 {
		fmt.Fprintf(&b, " · working: %s", strings.Join(working, ", "))
	}
	if len(waiting) > 0 {
		fmt.Fprintf(&b, " · no ack yet: %s", strings.Join(waiting, ", "))
	}
	fmt.Fprintf(&b, " · %s", round(elapsed))
	return b.String()
}

// round is d to a tenth of a second: 1.2s.
func round(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// cut shortens s to width runes, ending it with … when it was longer.
func cut(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// stderr is the writer logs go to: o.io.Err, with the live line, when one
// is shown, cleared before each write and drawn again after it, so that a
// warning during a call does not run into the line.
type stderr struct {
	w    io.Writer
	live atomic.Pointer[liveLine]
}

func (s *stderr) Write(p []byte) (int, error) {
	l := s.live.Load()
	l.pause()
	defer l.resume()
	return s.w.Write(p)
}
