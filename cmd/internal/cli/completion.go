package cli

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// completions makes TAB offer what the live fleet has: targets (all, the
// groups of the servers' bindings, the servers) and command names, read
// from the fleet register in at most fleetReadTimeout; nothing at all, not
// even files, when it cannot be read. Flags with a fixed set of values
// offer those. "topicrpc completion bash|zsh|fish|powershell" prints the
// script that asks (cobra's __complete command).
func (o *options) completions(root *cobra.Command) {
	fixed := map[string][]string{
		"output":      {"text", "json"},
		"discovery":   {"auto", "routes", "presence", "none"},
		"log-level":   {"debug", "info", "warn", "error"},
		"log-format":  {"text", "json"},
		"color":       {"auto", "always", "never"},
		"queue-types": {"auto", "classic", "replicated"},
	}
	for flag, values := range fixed {
		_ = root.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "call":
			c.ValidArgsFunction = o.fleetArgs(func(regs []domain.Registration, args []string) []name {
				switch len(args) {
				case 0:
					return targetNames(regs)
				case 1:
					return commandNames(regs, args[0])
				}
				return nil
			})
		case "servers":
			c.ValidArgsFunction = o.fleetArgs(func(regs []domain.Registration, args []string) []name {
				if len(args) == 0 {
					return targetNames(regs)
				}
				return nil
			})
		case "forget":
			c.ValidArgsFunction = o.fleetArgs(func(regs []domain.Registration, args []string) []name {
				var out []name
				for _, r := range regs {
					if !slices.Contains(args, r.Server) {
						out = append(out, name{r.Server, "server on " + r.Host})
					}
				}
				return out
			})
		case "demo", "shell", "version", "match":
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
	}
}

// fleetArgs is a ValidArgsFunction offering the names names picks from the
// fleet register, those starting with what is typed.
func (o *options) fleetArgs(names func([]domain.Registration, []string) []name) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		regs, ok := o.readFleet(cmd)
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range names(regs, args) {
			if strings.HasPrefix(n.word, toComplete) {
				out = append(out, cobra.CompletionWithDesc(n.word, n.about))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// readFleet reads the fleet register the command's flags (and their
// environment variables) name, giving up after fleetReadTimeout.
func (o *options) readFleet(cmd *cobra.Command) ([]domain.Registration, bool) {
	if o.env.apply(cmd, o.io.Getenv) != nil || o.setup() != nil {
		return nil, false
	}
	k, err := o.keys(o.trustServers, "trust-servers")
	if err != nil {
		return nil, false
	}
	o.log = slog.New(slog.DiscardHandler) // completion scripts show nothing of stderr anyway
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, fleetReadTimeout)
	defer cancel()
	type result struct {
		regs []domain.Registration
		err  error
	}
	got := make(chan result, 1)
	go func() { // stopping a transport that never connected may take longer: not waited for
		var r result
		r.err = o.withRegister(ctx, false, func(ctx context.Context, reg ports.Register, _ *app.Roster) error {
			r.regs, r.err = readFleet(ctx, func(ctx context.Context) ([]app.Registered, error) {
				return app.CensusTrusting(ctx, reg, k.trust())
			})
			return r.err
		})
		got <- r
	}()
	select {
	case r := <-got:
		return r.regs, r.err == nil
	case <-ctx.Done():
		return nil, false
	}
}
