// Package integration_test holds the tests that need a real RabbitMQ: the
// conformance suite on the AMQP transport, the differential topic test, and
// end-to-end runs of the built binaries. TestMain builds the binaries and
// finds the broker (see test/internal/brokertest).
package integration_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// binDir holds topicrpc and topicrpcd, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "topicrpc-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "github.com/topicrpc/topicrpc/cmd/topicrpc", "github.com/topicrpc/topicrpc/cmd/topicrpcd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := brokertest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
