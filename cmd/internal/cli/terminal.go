package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// terminal is what the client knows about where it writes: whether stdout
// and stderr are terminals, how wide stdout is, and whether to colour.
type terminal struct {
	outTTY, errTTY bool
	outFD          int
	color          bool
}

// detectTerminal looks at o's stdout and stderr. Colour follows --color:
// never, always, or auto: only when stdout is a terminal, NO_COLOR is unset
// or empty (https://no-color.org) and TERM is not "dumb".
func (o *options) detectTerminal() terminal {
	var t terminal
	t.outFD, t.outTTY = ttyOf(o.io.Out)
	_, t.errTTY = ttyOf(o.io.Err)
	switch o.color {
	case "always":
		t.color = true
	case "never":
	default:
		t.color = t.outTTY && o.io.Getenv("NO_COLOR") == "" && o.io.Getenv("TERM") != "dumb"
	}
	return t
}

// width is stdout's width in columns; 0 when it is not a terminal or unknown.
func (t terminal) width() int {
	if !t.outTTY {
		return 0
	}
	w, _, err := term.GetSize(t.outFD)
	if err != nil {
		return 0
	}
	return w
}

// live reports whether a live status line goes on stderr: only when both
// stdout and stderr are terminals.
func (t terminal) live() bool { return t.outTTY && t.errTTY }

func ttyOf(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// Colours (SGR parameters) of the states.
const (
	colorOK          = "32"   // green
	colorError       = "31"   // red
	colorTimedOut    = "33"   // yellow: it was working
	colorNotReceived = "35"   // magenta: never heard from
	colorDown        = "1;31" // bold red: gone without a goodbye
	colorStopped     = "90"   // grey: said goodbye
	colorDim         = "2"
)

// paint wraps s in the colour when on.
func paint(on bool, color, s string) string {
	if !on || color == "" || s == "" {
		return s
	}
	return "\x1b[" + color + "m" + s + "\x1b[0m"
}

// stateColor is the colour of a state's name.
func stateColor(state string) string {
	switch state {
	case "ok":
		return colorOK
	case "error", "failed":
		return colorError
	case "timeout", "timed out", "timed_out":
		return colorTimedOut
	case "not received", "not_received":
		return colorNotReceived
	case "down":
		return colorDown
	case "stopped", "skipped":
		return colorStopped
	}
	return ""
}

// safe makes s harmless to print on a terminal: control characters (C0,
// DEL, C1: escape sequences, \r, \n, \t…), bidirectional overrides and
// bytes that are not UTF-8 are written as escapes (\x1b, \n, \u202e), so a
// result, an error or a server name can neither move the cursor, clear the
// screen, nor start a line of its own that looks like a summary.
func safe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f || b >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, // C1 controls
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, // bidi overrides
			r == 0x200e, r == 0x200f, r == 0x061c:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// safeAll is safe for each of names.
func safeAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = safe(n)
	}
	return out
}
