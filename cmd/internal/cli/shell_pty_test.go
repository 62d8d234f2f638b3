//go:build linux

package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// terminal is topicrpc running in a process of its own on a pseudo-terminal,
// as a person at a terminal runs it.
type terminal struct {
	t        *testing.T
	ptmx     *os.File // our side
	tty      *os.File // the program's side, kept open to read its mode
	cmd      *exec.Cmd
	mu       sync.Mutex
	out      bytes.Buffer
	seen     int           // output before this offset was matched already
	poke     chan struct{} // a send after each read
	readDone chan struct{}
}

// startTerminal runs topicrpc args on a new pseudo-terminal with home as
// its home directory.
func startTerminal(t *testing.T, home string, args ...string) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"HOME=" + home, "TERM=xterm", "PATH=/usr/bin:/bin", programEnv + "=" + string(raw)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tm := &terminal{t: t, ptmx: ptmx, tty: tty, cmd: cmd, poke: make(chan struct{}, 1), readDone: make(chan struct{})}
	go tm.read()
	t.Cleanup(func() {
		if tm.cmd.ProcessState == nil {
			_ = tm.cmd.Process.Kill()
			_ = tm.cmd.Wait()
		}
		tty.Close()
		<-tm.readDone
		ptmx.Close()
	})
	return tm
}

func (tm *terminal) read() {
	defer close(tm.readDone)
	buf := make([]byte, 4096)
	for {
		n, err := tm.ptmx.Read(buf)
		tm.mu.Lock()
		tm.out.Write(buf[:n])
		tm.mu.Unlock()
		select {
		case tm.poke <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// waitFor waits until the output past what was matched before holds s.
func (tm *terminal) waitFor(s string) {
	tm.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		tm.mu.Lock()
		out := tm.out.String()
		i := strings.Index(out[tm.seen:], s)
		if i >= 0 {
			tm.seen += i + len(s)
		}
		tm.mu.Unlock()
		if i >= 0 {
			return
		}
		select {
		case <-tm.poke:
		case <-timeout:
			tm.t.Fatalf("no %q on the terminal after %q; it shows:\n%s", s, out[:tm.seen], out[tm.seen:])
		}
	}
}

func (tm *terminal) write(s string) {
	tm.t.Helper()
	if _, err := tm.ptmx.Write([]byte(s)); err != nil {
		tm.t.Fatal(err)
	}
}

// waitSignals waits until the terminal turns Ctrl+C into SIGINT again: the
// line editor gave the line back and is no longer reading keys.
func (tm *terminal) waitSignals() { tm.t.Helper(); tm.waitISIG(true) }

// waitPrompt waits until the line editor reads keys itself, Ctrl+C included.
func (tm *terminal) waitPrompt() { tm.t.Helper(); tm.waitISIG(false) }

func (tm *terminal) waitISIG(on bool) {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tios, err := unix.IoctlGetTermios(int(tm.tty.Fd()), unix.TCGETS)
		if err != nil {
			tm.t.Fatal(err)
		}
		if (tios.Lflag&unix.ISIG != 0) == on {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal's ISIG never became %v", on)
		}
		time.Sleep(time.Millisecond) // polling the terminal's mode, the condition itself
	}
}

// exit waits for the program to end and returns its exit code and all it wrote.
func (tm *terminal) exit() (int, string) {
	tm.t.Helper()
	err := tm.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		tm.t.Fatal(err)
	}
	tm.tty.Close()
	<-tm.readDone
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.cmd.ProcessState.ExitCode(), tm.out.String()
}

// TestDemoShellCtrlC: in the demo's shell, Ctrl+C cancels the call in
// progress and the prompt comes back on the same fleet; servers and help
// work; Ctrl+D leaves on a new line; the lines go to the demo's own history.
func TestDemoShellCtrlC(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	tm := startTerminal(t, home, "demo", "--timeout=1m", "-o", "json")
	tm.waitFor("topicrpc shell")
	tm.waitFor(">>: ")
	tm.write("all sleep|10m\r")
	tm.waitFor("all sleep|10m") // the line editor has it
	tm.waitSignals()
	tm.write("\x03") // Ctrl+C
	tm.waitFor(`"reason":"cancelled"`)
	tm.waitFor(">>: ")
	tm.write("q1 ping\r")
	tm.waitFor("pong name=q1")
	tm.waitFor(">>: ")
	tm.write("servers group2\r")
	tm.waitFor(`"server":"q2"`)
	tm.waitFor(">>: ")
	tm.write("help\r")
	tm.waitFor("servers [TARGET]")
	tm.waitFor(">>: ")
	tm.write("\x04") // Ctrl+D
	code, out := tm.exit()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.HasSuffix(out, ">>: \r\n") {
		t.Errorf("Ctrl+D did not end the shell on a new line: %q", out[max(0, len(out)-40):])
	}
	history, err := os.ReadFile(filepath.Join(home, ".topicrpc_demo_history"))
	if err != nil || string(history) != "all sleep|10m\nq1 ping\nservers group2\nhelp\n" {
		t.Errorf("demo history %q, %v", history, err)
	}
	if _, err := os.Stat(filepath.Join(home, ".topicrpc_history")); !os.IsNotExist(err) {
		t.Errorf("the demo wrote the shell's history: %v", err)
	}
}

// TestShellHistoryIsItsOwn: the shell keeps its lines in ~/.topicrpc_history
// and reads them back; Ctrl+C at the prompt clears the line; TAB completes
// targets and commands from the fleet register.
func TestShellHistoryIsItsOwn(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".topicrpc_demo_history"), []byte("q1 echo demo only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".topicrpc_history"), []byte("q2 echo from before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm := startTerminal(t, home, "shell", "--url=memory://")
	tm.waitFor(">>: ")
	tm.waitPrompt()
	tm.write("q1 never sent\x03") // Ctrl+C at the prompt: the line is dropped
	tm.waitFor(">>: ")
	tm.write("\x1b[A\r") // up: the last line of history, the shell's own
	tm.waitFor("from before")
	tm.waitFor(">>: ")
	tm.write("q1 echo new\r")
	tm.waitFor("new")
	tm.waitFor(">>: ")
	tm.write("q2 ec\t") // TAB: the command names of q2 that start so
	tm.waitFor("q2 echo ")
	tm.write("tabbed\r")
	tm.waitFor("tabbed")
	tm.waitFor(">>: ")
	tm.write("grou\t")
	tm.waitFor("group1 ")
	tm.write("\t") // the next one
	tm.waitFor("group2 ")
	tm.write("ping\r")
	tm.waitFor("pong name=q2")
	tm.waitFor(">>: ")
	tm.write("\x04")
	code, out := tm.exit()
	if code != 0 || strings.Contains(out, "demo only") || strings.Contains(out, "never sent\r\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	history, err := os.ReadFile(filepath.Join(home, ".topicrpc_history"))
	if err != nil || string(history) != "q2 echo from before\nq1 echo new\nq2 echo tabbed\ngroup2 ping\n" {
		t.Errorf("shell history %q, %v", history, err)
	}
}

// TestShellSIGTERM: SIGTERM at the prompt ends the shell (exit 130) with the
// terminal given back as it was (echo and line mode on) and the history
// saved.
func TestShellSIGTERM(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	tm := startTerminal(t, home, "shell", "--url=memory://")
	tm.waitFor(">>: ")
	tm.write("q1 echo kept\r")
	tm.waitFor("kept")
	tm.waitFor(">>: ")
	if err := tm.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = tm.cmd.Wait()
	if code := tm.cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130", code)
	}
	tios, err := unix.IoctlGetTermios(int(tm.tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tios.Lflag&unix.ECHO == 0 || tios.Lflag&unix.ICANON == 0 || tios.Lflag&unix.ISIG == 0 {
		t.Errorf("terminal mode %#x: echo, line mode or signals left off", tios.Lflag)
	}
	history, err := os.ReadFile(filepath.Join(home, ".topicrpc_history"))
	if err != nil || string(history) != "q1 echo kept\n" {
		t.Errorf("history %q, %v", history, err)
	}
}
