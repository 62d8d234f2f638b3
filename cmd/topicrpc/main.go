// Command topicrpc sends one command to all servers, a group or one server and
// gathers every answer. Run "topicrpc --help".
package main

import (
	"context"
	"os"

	"golang.org/x/term"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], cli.IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		Interactive: term.IsTerminal(int(os.Stdin.Fd())),
	}))
}
