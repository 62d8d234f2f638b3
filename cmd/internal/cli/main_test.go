package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"golang.org/x/term"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

// programEnv, when set, makes the test binary run topicrpc with the JSON
// list of arguments it holds, as cmd/topicrpc's main does: tests that need a
// process of its own (a terminal, signals) start it that way.
const programEnv = "TOPICRPC_TEST_PROGRAM_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(programEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			panic(err)
		}
		os.Exit(cli.Run(context.Background(), args, cli.IO{
			In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
			Interactive: term.IsTerminal(int(os.Stdin.Fd())),
		}))
	}
	os.Exit(m.Run())
}
