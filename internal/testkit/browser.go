package testkit

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// EnvRequireBrowser set to 1 turns "no browser" from a skip into a
// failure; CI sets it, as it sets EnvRequireBroker.
const EnvRequireBrowser = "TOPICRPC_REQUIRE_BROWSER"

// BrowserRequired reports whether TOPICRPC_REQUIRE_BROWSER=1: tests that
// find no browser must then fail rather than skip.
func BrowserRequired() bool { return os.Getenv(EnvRequireBrowser) == "1" }

// NoBrowser ends a test that cannot run for want of a browser: it fails
// the test when BrowserRequired, and skips it otherwise, with reason as
// one line either way. Like NoBroker, so that CI, which installs
// chromium, never passes by skipping the browser tests.
func NoBrowser(tb testing.TB, reason string) {
	tb.Helper()
	reason = strings.Join(strings.Fields(reason), " ")
	if BrowserRequired() {
		tb.Fatalf("%s (failing because %s=1)", reason, EnvRequireBrowser)
	}
	tb.Skip(reason)
}

// browsers are the names a Chromium is installed under.
var browsers = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser returns the path of an installed Chromium, or ends the test
// through NoBrowser.
func Browser(tb testing.TB) string {
	tb.Helper()
	for _, name := range browsers {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	NoBrowser(tb, "no browser: none of "+strings.Join(browsers, ", ")+" is on PATH (apt-get install -y --no-install-recommends chromium)")
	return ""
}
