package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// summaryText is a call's summary in one line, as the command line's:
// "3 expected, 2 ok, 0 failed, 1 silent; not received: f3 in 2000ms (deadline)".
func summaryText(s domain.Summary) string {
	var b strings.Builder
	if s.Expected < 0 {
		b.WriteString("? expected")
	} else {
		fmt.Fprintf(&b, "%d expected", s.Expected)
	}
	fmt.Fprintf(&b, ", %d ok, %d failed", s.OK, s.Failed)
	if s.Silent > 0 {
		fmt.Fprintf(&b, ", %d silent", s.Silent)
	}
	for _, n := range []struct {
		n     int
		word  string
		names []string
	}{
		{s.NotReceived, "not received", notTimedOut(s.SilentServers, s.TimedOutServers)},
		{s.TimedOut, "timed out", s.TimedOutServers},
		{s.Down, "down", s.DownServers},
		{s.Stopped, "stopped", s.StoppedServers},
		{s.Unexpected, "unexpected", s.UnexpectedServers},
		{s.Forged, "forged replies refused", s.ForgedClaims},
	} {
		if n.n > 0 {
			fmt.Fprintf(&b, "; %s: %s", n.word, strings.Join(n.names, ", "))
		}
	}
	fmt.Fprintf(&b, " in %s (%s)", elapsed(s.Elapsed), strings.ReplaceAll(s.Reason.String(), "_", " "))
	return b.String()
}

// elapsed writes d as the command line does: 0.19ms, 14ms, 2.0s.
func elapsed(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", ms(d))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0fms", ms(d))
	}
	return d.Round(100 * time.Millisecond).String()
}

// notTimedOut is silent without the timed out ones: the not received.
func notTimedOut(silent, timedOut []string) []string {
	var out []string
	for _, s := range silent {
		found := false
		for _, t := range timedOut {
			found = found || s == t
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}
