package browser_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/topicrpc/topicrpc/test/internal/bintest"
)

// payload is a result that would run script if the page read it as HTML.
const payload = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>`

// TestConsole drives topicrpc web in a browser against three topicrpcd on
// RabbitMQ: the fleet lists them; a target and a command typed and sent
// with Enter show every server's result, a frozen one (SIGSTOP) as
// silent, an HTML payload as text with no script run; and, the broker
// killed and restarted under the page, the same page shows the fleet and
// runs calls again.
func TestConsole(t *testing.T) {
	n := requireNode(t)
	p := openBrowser(t)
	ns := fmt.Sprintf("web%06d", rand.IntN(1e6))
	conn := []string{"--url", n.URL, "--namespace", ns}
	procs := map[string]*bintest.Proc{}
	for _, name := range []string{"w1", "w2", "f3"} {
		procs[name] = bins.Start(t, "topicrpcd", append(conn, "--name", name, "--bind", "web.#")...)
	}
	// s4 served once and said goodbye: the register keeps it, stopped.
	s4 := bins.Start(t, "topicrpcd", append(conn, "--name", "s4", "--bind", "old.#")...)
	if err := s4.Process.Signal(syscall.SIGTERM); err != nil || s4.ExitCode(20*time.Second) != 0 {
		t.Fatalf("s4 did not stop: %v\n%s", err, s4.Stderr.String())
	}
	addr := startConsole(t, conn...)
	p.do("open the console", chromedp.Navigate(addr))

	// The fleet lists the three servers up, s4 stopped.
	p.waitFor("the fleet lists w1, w2 and f3 up, s4 stopped",
		`Object.entries({w1: "up", w2: "up", f3: "up", s4: "stopped"}).every(([n, st]) => { const r = document.querySelector('#fleet-rows tr[data-server="'+n+'"]'); return r && r.cells[1].textContent === st; })`,
		20*time.Second)
	p.screenshot("web-fleet.png")

	// The filter keeps the rows whose name or binding holds its text.
	p.do("filter the fleet", chromedp.SendKeys(chromedp.ID("fleet-filter"), "f3"))
	p.waitFor("the filter leaves f3 alone", `document.querySelectorAll('#fleet-rows tr').length === 1`, 5*time.Second)
	p.setValue("fleet-filter", "")
	p.do("filter by the binding", chromedp.SendKeys(chromedp.ID("fleet-filter"), "web"))
	p.waitFor("the binding web.# keeps all three", `document.querySelectorAll('#fleet-rows tr').length === 3`, 5*time.Second)

	// Freeze f3: it keeps its connection (its queue has a consumer) but
	// neither acknowledges nor answers.
	if err := procs["f3"].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = procs["f3"].Process.Signal(syscall.SIGCONT) }) // before the SIGTERM that stops it

	// Typing the target shows who would answer.
	p.setValue("timeout", "2s")
	p.do("type the target", chromedp.SendKeys(chromedp.ID("target"), "web"))
	p.waitFor("the preview names w1, w2 and f3",
		`["w1","w2","f3"].every(n => document.querySelector('#preview .chip[data-server="'+n+'"]'))`, 10*time.Second)

	// The command and Enter run the call.
	p.do("type the command and press Enter", chromedp.SendKeys(chromedp.ID("command"), "echo "+payload+kb.Enter))
	p.waitFor("the call ends", `document.querySelector('#calls .call:first-child[data-state="done"]')`, 15*time.Second)
	for _, s := range []string{"w1", "w2"} {
		if st, res := trim(cell(p, s, 1)), cell(p, s, 3); st != "ok" || res != payload {
			t.Errorf("%s: state %q, result %q; want ok and the payload as text", s, st, res)
		}
	}
	if st := cell(p, "f3", 1); !strings.Contains(st, "silent") {
		t.Errorf("the frozen f3: state %q; want silent", st)
	}
	if sum := eval[string](p, `document.querySelector('#calls .call:first-child .summary').textContent`); !strings.Contains(sum, "3 expected, 2 ok") || !strings.Contains(sum, "f3") {
		t.Errorf("summary %q: want 3 expected, 2 ok, f3 named", sum)
	}
	// Nothing of the payload became markup, nothing of it ran.
	if n := eval[int](p, `document.querySelectorAll('#calls img, #calls script, #calls b').length`); n != 0 {
		t.Errorf("the payload made %d element(s) in the page", n)
	}
	if pwned := eval[bool](p, `window.pwned !== undefined`); pwned {
		t.Errorf("the payload's script ran")
	}
	p.screenshot("web-call.png")
	if err := procs["f3"].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	// The broker is killed and restarted on its data; the page, never
	// reloaded, says so and then shows the fleet and runs calls again.
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	p.waitFor("the page says the broker is unreachable", `document.getElementById("conn").textContent.includes("unreachable")`, 20*time.Second)
	if err := n.RestartKeepingData(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.waitFor("the fleet is read again, all up",
		`document.getElementById("conn").textContent === "live" && ["w1","w2","f3"].every(n => { const r = document.querySelector('#fleet-rows tr[data-server="'+n+'"]'); return r && r.cells[1].textContent === "up"; })`,
		90*time.Second)
	var last string
	for try := 1; ; try++ {
		before := eval[string](p, `document.querySelector('#calls .call:first-child').id`)
		p.setValue("command", "")
		p.do("run a call again", chromedp.SendKeys(chromedp.ID("command"), fmt.Sprintf("echo again %d", try)+kb.Enter))
		p.waitFor("the new call ends", `document.querySelector('#calls .call:first-child').id !== `+jsString(before)+` && `+
			`document.querySelector('#calls .call:first-child[data-state="done"], #calls .call:first-child[data-state="failed"]')`, 15*time.Second)
		last = eval[string](p, `document.querySelector('#calls .call:first-child .summary').textContent`)
		if strings.Contains(last, "3 expected, 3 ok") {
			break
		}
		if try == 10 {
			t.Fatalf("after the broker's restart, call %d: %s; want 3 ok", try, last)
		}
		time.Sleep(time.Second)
	}
	if res := cell(p, "w2", 3); !strings.HasPrefix(res, "again") {
		t.Errorf("after the restart, w2's result %q", res)
	}

	// The first call is a job in the results store (it survived the
	// restart): its page, in another tab, shows each server's result as
	// text.
	job := eval[string](p, `document.querySelector('#calls .call:last-child a.job').getAttribute("href")`)
	jp := p.newTab()
	jp.do("open the first call's job", chromedp.Navigate(strings.TrimSuffix(addr, "/")+job))
	jp.waitFor("the job shows w1's and w2's results", `["w1","w2"].every(n => document.querySelector('#job-results tr[data-server="'+n+'"] pre'))`, 10*time.Second)
	for _, s := range []string{"w1", "w2"} {
		if res := eval[string](jp, `document.querySelector('#job-results tr[data-server="`+s+`"] pre').textContent`); res != payload {
			t.Errorf("the job's page: %s's result %q; want the payload as text", s, res)
		}
	}
	if n := eval[int](jp, `document.querySelectorAll('main img, main script, main b').length`); n != 0 {
		t.Errorf("the payload made %d element(s) in the job's page", n)
	}
}
