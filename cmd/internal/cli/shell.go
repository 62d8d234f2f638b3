package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/peterh/liner"
	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

const prompt = ">>: "

// History files, in the home directory: the demo's fleet is not the real
// one, so its lines are kept apart.
const (
	shellHistory = ".topicrpc_history"
	demoHistory  = ".topicrpc_demo_history"
)

// maxLine bounds a shell line: a command whose args are at the limit, with
// its target and name. A longer line is refused, and the shell goes on.
const maxLine = app.DefaultMaxArgs + domain.MaxKeyLength + domain.MaxCommandName + 64

const shellHelp = `Type TARGET COMMAND, e.g.
  group1 echo hello group1 !    echo on every server of group1 (or echo|hello group1 !)
  all fib 30                    the 30th Fibonacci number from every server
  q2 ping                       one server's name, version and uptime
TARGET is all, a group or a server name; COMMAND is name args or name|args.
Built-in commands: echo, fib, ping, sleep.
servers [TARGET] lists the fleet (or the servers TARGET reaches).
Ctrl+C cancels a call in progress; help shows this; exit, quit or Ctrl+D leaves.`

func newShellCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: "Type calls one per line (TARGET name args) with line editing and history",
		Long: `Type calls one per line: TARGET COMMAND, as with call (group1 echo hello).
At a terminal, lines are edited and kept in ~/` + shellHistory + `, Ctrl+C cancels the
call in progress and returns to the prompt, and Ctrl+D or exit leaves. Also:
servers [TARGET] lists the fleet, help the syntax. Reading from a pipe, Ctrl+C
ends the shell (exit 130).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withClient(cmd.Context(), func(ctx context.Context, c *app.Client) error {
				return o.shell(ctx, c, shellHistory)
			})
		},
	}
}

// lineReader reads shell lines; io.EOF ends the shell.
type lineReader interface {
	readLine() (string, error)
	close()
}

// errLineTooLong: a line over maxLine, skipped.
var errLineTooLong = fmt.Errorf("line over %d bytes: skipped", maxLine)

// shell reads lines until exit or end of input, keeping history in the home
// directory's file named history when a person types. An error in one line
// is reported in one line on stderr and never ends the shell.
//
// At a terminal, Ctrl+C (SIGINT) cancels the call in progress and the
// prompt comes back; at the prompt it clears the line. Reading from
// anything else, an interrupted call ends the shell with exit 130, like a
// script. SIGTERM ends the program either way.
func (o *options) shell(ctx context.Context, c *app.Client, history string) error {
	r, err := o.renderer()
	if err != nil {
		return err
	}
	var lr lineReader
	if o.io.Interactive {
		lr = newTerminalReader(history, shellCompleter(ctx, c))
		fmt.Fprintln(o.io.Out, "topicrpc shell: type help for help, exit to leave.")
	} else {
		lr = newPlainReader(o.io.In)
	}
	defer lr.close()
	var sigs chan os.Signal
	if o.io.Interactive {
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt)
		defer signal.Stop(sigs)
		stop := exitOnTerm(lr)
		defer stop()
	}
	for {
		if o.io.Interactive {
			select {
			case <-sigs: // an interrupt while no call ran: nothing to cancel
			default:
			}
		}
		line, err := lr.readLine()
		switch {
		case errors.Is(err, io.EOF):
			if o.io.Interactive {
				fmt.Fprintln(o.io.Out) // Ctrl+D: the shell's end on a line of its own
			}
			return nil
		case errors.Is(err, errLineTooLong):
			fmt.Fprintf(o.io.Err, "error: %v\n", err)
			continue
		case err != nil:
			return fmt.Errorf("shell: read: %w", err)
		}
		line = strings.TrimSpace(line)
		words := strings.Fields(line)
		switch {
		case line == "":
			continue
		case line == "exit", line == "quit":
			return nil
		case line == "help", line == "?":
			fmt.Fprintln(o.io.Out, shellHelp)
			continue
		case words[0] == "servers" && len(words) <= 2:
			o.shellServers(ctx, c, words[1:])
			continue
		}
		target, rest, _ := strings.Cut(line, " ")
		args := []string{target}
		if rest = strings.TrimSpace(rest); rest != "" {
			args = append(args, rest)
		}
		target, command, err := parseCallArgs(args)
		if err != nil {
			fmt.Fprintf(o.io.Err, "error: %v (type help)\n", errors.Unwrap(err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		var sig os.Signal
		if o.io.Interactive {
			done := watchSignals(sigs, cancel)
			callLine(cctx, c, r, target, command) // its outcome is on screen; the shell goes on
			sig = done()
		} else {
			sctx, stop := signalContext(cctx)
			callLine(sctx, c, r, target, command)
			if sctx.Err() != nil && cctx.Err() == nil {
				sig = os.Interrupt
			}
			stop()
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case sig != nil && !o.io.Interactive:
			return &exitError{code: ExitCancelled}
		}
	}
}

// exitOnTerm ends the program at SIGTERM, at the prompt or during a call,
// after giving the terminal back as it was (and saving the history). The
// function it returns stops watching.
func exitOnTerm(lr lineReader) func() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-term:
			lr.close()
			os.Exit(ExitCancelled)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(term)
		close(done)
	}
}

// watchSignals cancels the call in progress at the first of sigs. The
// function it returns stops watching and returns the signal that came, or
// nil.
func watchSignals(sigs <-chan os.Signal, cancel context.CancelFunc) func() os.Signal {
	stop := make(chan struct{})
	got := make(chan os.Signal, 1)
	go func() {
		var s os.Signal
		select {
		case s = <-sigs:
			cancel()
		case <-stop:
		}
		got <- s
	}()
	return func() os.Signal {
		close(stop)
		return <-got
	}
}

// shellServers lists the fleet register's servers, or those target reaches.
func (o *options) shellServers(ctx context.Context, c *app.Client, args []string) {
	if len(args) == 1 {
		if err := domain.ValidateTarget(args[0]); err != nil {
			fmt.Fprintf(o.io.Err, "error: target: %v\n", err)
			return
		}
	}
	reg, ok := c.Register()
	if !ok {
		fmt.Fprintln(o.io.Err, "error: servers: this transport keeps no fleet register")
		return
	}
	if err := o.printCensus(ctx, reg, nil, false, args); err != nil {
		var ee *exitError
		if errors.As(err, &ee) && ee.err == nil {
			fmt.Fprintf(o.io.Err, "error: no server matched %s\n", args[0])
			return
		}
		fmt.Fprintf(o.io.Err, "error: %v\n", err)
	}
}

// shellCompleter completes, on TAB, the target (the first word) and the
// command name (the second) from the fleet register, read each time for at
// most fleetReadTimeout; nothing when it cannot be read.
func shellCompleter(ctx context.Context, c *app.Client) liner.Completer {
	return func(line string) []string {
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") || line == "" {
			words = append(words, "")
		}
		if len(words) > 2 {
			return nil
		}
		regs, err := readFleet(ctx, c.Census)
		if err != nil {
			return nil
		}
		var names []name
		var before string
		if len(words) == 1 {
			names = append(targetNames(regs), name{word: "servers"}, name{word: "help"}, name{word: "exit"})
		} else {
			names, before = commandNames(regs, words[0]), words[0]+" "
		}
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n.word, words[len(words)-1]) {
				out = append(out, before+n.word+" ")
			}
		}
		return out
	}
}

// plainReader reads lines from a pipe or file, up to maxLine bytes each.
type plainReader struct {
	r   *bufio.Reader
	max int
}

func newPlainReader(in io.Reader) *plainReader {
	return &plainReader{r: bufio.NewReaderSize(in, 64<<10), max: maxLine}
}

// readLine returns the next line without its end. A line longer than max is
// read to its end and refused with errLineTooLong.
func (p *plainReader) readLine() (string, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := p.r.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			tooLong = len(bytes.TrimRight(line, "\r\n")) > p.max
			if tooLong {
				line = nil
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 && !tooLong {
				return "", io.EOF
			}
		case err != nil:
			return "", err
		}
		break
	}
	if tooLong {
		return "", errLineTooLong
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (p *plainReader) close() {}

// terminalReader edits lines with history, kept in a file of the home directory.
type terminalReader struct {
	l       *liner.State
	history string
}

func newTerminalReader(history string, complete liner.Completer) *terminalReader {
	t := &terminalReader{l: liner.NewLiner()}
	t.l.SetCtrlCAborts(true)
	t.l.SetCompleter(complete)
	if home, err := os.UserHomeDir(); err == nil {
		t.history = filepath.Join(home, history)
		if f, err := os.Open(t.history); err == nil {
			_, _ = t.l.ReadHistory(f)
			f.Close()
		}
	}
	return t
}

func (t *terminalReader) readLine() (string, error) {
	for {
		line, err := t.l.Prompt(prompt)
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			continue // Ctrl+C at the prompt clears the line
		case err != nil:
			return "", err
		}
		if len(line) > maxLine {
			return "", errLineTooLong
		}
		if strings.TrimSpace(line) != "" {
			t.l.AppendHistory(line)
		}
		return line, nil
	}
}

func (t *terminalReader) close() {
	if t.history != "" {
		if f, err := os.OpenFile(t.history, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			_, _ = t.l.WriteHistory(f)
			f.Close()
		}
	}
	t.l.Close()
}
