package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterh/liner"
	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
)

const prompt = ">>: "

const shellHelp = `Type TARGET COMMAND, e.g.
  group1 echo|hello group1 !    echo on every server of group1
  all fib|30                    the 30th Fibonacci number from every server
  q2 ping                       one server's name, version and uptime
TARGET is all, a group or a server name; COMMAND is name|args or name args.
Built-in commands: echo, fib, ping, sleep. Ctrl+C cancels a call in progress.
help shows this; exit, quit or Ctrl+D leaves.`

func newShellCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: "Type calls one per line (TARGET name|args) with line editing and history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withClient(cmd.Context(), o.shell)
		},
	}
}

// lineReader reads shell lines; io.EOF ends the shell.
type lineReader interface {
	readLine() (string, error)
	close()
}

// shell reads lines until exit or end of input. An error in one line is
// reported in one line on stderr and never ends the shell.
func (o *options) shell(ctx context.Context, c *app.Client) error {
	r, err := o.renderer()
	if err != nil {
		return err
	}
	var lr lineReader
	if o.io.Interactive {
		lr = newTerminalReader()
		fmt.Fprintln(o.io.Out, "topicrpc shell: type help for help, exit to leave.")
	} else {
		lr = &plainReader{s: bufio.NewScanner(o.io.In)}
	}
	defer lr.close()
	for {
		line, err := lr.readLine()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("shell: read: %w", err)
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "exit", "quit":
			return nil
		case "help", "?":
			fmt.Fprintln(o.io.Out, shellHelp)
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
		sctx, stop := signalContext(cctx)
		callLine(sctx, c, r, target, command) // its outcome is on screen; the shell goes on
		stop()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
	}
}

type plainReader struct{ s *bufio.Scanner }

func (p *plainReader) readLine() (string, error) {
	if p.s.Scan() {
		return p.s.Text(), nil
	}
	if err := p.s.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func (p *plainReader) close() {}

// terminalReader edits lines with history, kept in ~/.topicrpc_history.
type terminalReader struct {
	l       *liner.State
	history string
}

func newTerminalReader() *terminalReader {
	t := &terminalReader{l: liner.NewLiner()}
	t.l.SetCtrlCAborts(true)
	if home, err := os.UserHomeDir(); err == nil {
		t.history = filepath.Join(home, ".topicrpc_history")
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
		if strings.TrimSpace(line) != "" {
			t.l.AppendHistory(line)
		}
		return line, nil
	}
}

func (t *terminalReader) close() {
	if t.history != "" {
		if f, err := os.Create(t.history); err == nil {
			_, _ = t.l.WriteHistory(f)
			f.Close()
		}
	}
	t.l.Close()
}
