package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// callLine runs one call and renders it; it returns the call's exit code.
// Errors before the call starts are rendered too.
func callLine(ctx context.Context, c *app.Client, r renderer, target string, cmd domain.Command) int {
	info := callInfo{target: target, command: cmd}
	start := time.Now()
	call, err := c.Call(ctx, target, cmd)
	if err != nil {
		code := codeOf(err)
		r.failure(info, err, code)
		return code
	}
	info.id = call.ID()
	for reply := range call.Replies() {
		r.reply(info, reply, time.Since(start))
	}
	s := call.Summary()
	r.summary(info, s, call.Outcomes())
	return ExitCode(s)
}

// parseCallArgs reads "TARGET name|args" given as one or more words.
func parseCallArgs(args []string) (string, domain.Command, error) {
	if len(args) < 2 {
		return "", domain.Command{}, usageError("want TARGET COMMAND, e.g. group1 'echo|hello' (see --help)")
	}
	target := args[0]
	if err := domain.ValidateKey(target); err != nil {
		return "", domain.Command{}, usageError("target: %v", err)
	}
	cmd, err := domain.ParseCommand(strings.Join(args[1:], " "))
	if err != nil {
		return "", domain.Command{}, usageError("%v", err)
	}
	return target, cmd, nil
}

func newCallCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "call TARGET COMMAND",
		Short: "Send one command to every server the target reaches and print the replies",
		Long: `Send one command to every server the target reaches and print each reply as it
arrives, then a summary. The call ends as soon as every expected server answered,
or at --timeout, naming the servers that stayed silent.

TARGET is a routing key: all, a group (group1) or a server name (q1).
COMMAND is name|args (echo|hello world) or name args... (fib 30).`,
		Example: `  topicrpc call group1 'echo|hello group1 !'
  topicrpc call all 'fib|30' --timeout 5s --output json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, command, err := parseCallArgs(args)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return o.withClient(ctx, func(ctx context.Context, c *app.Client) error {
				r, err := newRenderer(o.output, o.io.Out)
				if err != nil {
					return err
				}
				cctx, cancel := context.WithTimeout(ctx, o.timeout)
				defer cancel()
				if code := callLine(cctx, c, r, target, command); code != ExitOK {
					return &exitError{code: code}
				}
				return nil
			})
		},
	}
}

func newMatchCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "match BINDING KEY",
		Short: "Tell whether a binding pattern matches a routing key (exit 0 yes, 1 no)",
		Long: `Tell whether a binding pattern matches a routing key, with RabbitMQ's topic rules:
words are separated by '.', '*' matches exactly one word, '#' zero or more.`,
		Example: `  topicrpc match 'group1.#' group1      # match
  topicrpc match '*.web' group1.db.web   # no match`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError("want BINDING KEY, got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if err := domain.ValidateBinding(args[0]); err != nil {
				return usageError("binding: %v", err)
			}
			if err := domain.ValidateKey(args[1]); err != nil {
				return usageError("key: %v", err)
			}
			if domain.Match(args[0], args[1]) {
				fmt.Fprintf(o.io.Out, "match: %q matches %q\n", args[0], args[1])
				return nil
			}
			fmt.Fprintf(o.io.Out, "no match: %q does not match %q\n", args[0], args[1])
			return &exitError{code: 1}
		},
	}
}
