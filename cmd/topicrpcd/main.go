// Command topicrpcd is a topicrpc server: it answers the requests its
// bindings attract. Run "topicrpcd --help".
package main

import (
	"context"
	"os"

	"golang.org/x/term"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

func main() {
	os.Exit(cli.RunServer(context.Background(), os.Args[1:], cli.IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		Interactive: term.IsTerminal(int(os.Stdin.Fd())),
	}))
}
