package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/domain"
)

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
