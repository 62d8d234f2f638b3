package browser_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// stepLimit bounds one step in the browser.
const stepLimit = 30 * time.Second

// page is a tab of a headless Chromium.
type page struct {
	t   *testing.T
	ctx context.Context
}

// openBrowser starts the installed Chromium, headless, and returns a tab;
// it ends with the test.
func openBrowser(t *testing.T) page {
	t.Helper()
	path := testkit.Browser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to no step's limit
		t.Fatalf("start %s: %v", path, err)
	}
	return page{t: t, ctx: ctx}
}

// newTab opens another tab of the same browser; it closes with the test.
func (p page) newTab() page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	p.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, bound to no step's limit
		p.t.Fatalf("open a tab: %v", err)
	}
	return page{t: p.t, ctx: ctx}
}

// do runs steps within stepLimit, failing the test with what if they fail.
func (p page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepLimit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// setValue sets the value of the input with that id, as if typed over.
func (p page) setValue(id, v string) {
	p.t.Helper()
	eval[chromedp.Void](p, `(e => { e.value = `+jsString(v)+`; e.dispatchEvent(new Event("input")); })(document.getElementById(`+jsString(id)+`))`)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits up to d for a JavaScript expression to be truthy, failing
// the test with what (and the page's text) if it is not.
func (p page) waitFor(what, expr string, d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.t.Fatalf("%s: not within %v (%v); the page reads:\n%s", what, d, err, eval[string](p, "document.body.innerText"))
	}
}

// screenshot saves the page as name (a PNG) in the screenshots directory.
func (p page) screenshot(name string) {
	p.t.Helper()
	dir := *screenshots
	if dir == "" {
		dir = p.t.TempDir()
	}
	ctx, cancel := context.WithTimeout(p.ctx, stepLimit)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// webAddress matches the address topicrpc web prints when it serves.
var webAddress = regexp.MustCompile(`serving (http://\S+)`)

// startConsole runs topicrpc web with args on a free loopback port and
// returns the address it serves; it is stopped when the test ends.
func startConsole(t *testing.T, args ...string) string {
	t.Helper()
	cmd := bins.Command("topicrpc", append([]string{"web", "--listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(testkit.LockedBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("topicrpc web did not stop on SIGINT:\n%s", stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := webAddress.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("topicrpc web ended without serving:\n%s", stderr.String())
		}
		return a
	case <-time.After(stepLimit):
		t.Fatalf("topicrpc web not serving after %v:\n%s", stepLimit, stderr.String())
	}
	return ""
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string { return fmt.Sprintf("%q", s) }

// row is the JavaScript expression of a server's row in the newest call.
func row(server string) string {
	return `document.querySelector('#calls .call:first-child tr[data-server=` + jsString(server) + `]')`
}

// cell reads a cell's text of a server's row in the newest call: 1 the
// state, 3 the result.
func cell(p page, server string, i int) string {
	p.t.Helper()
	return eval[string](p, `(() => { const r = `+row(server)+`; return r ? r.cells[`+fmt.Sprint(i)+`].textContent : "(no row)"; })()`)
}

func trim(s string) string { return strings.TrimSpace(s) }
