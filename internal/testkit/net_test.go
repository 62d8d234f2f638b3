package testkit_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

func TestClosedAddrRefuses(t *testing.T) {
	t.Parallel()
	c, err := net.DialTimeout("tcp", testkit.ClosedAddr(t), time.Second)
	if err == nil {
		c.Close()
		t.Fatal("dialled an address nothing should listen on")
	}
}

// Listen serves every connection; its cleanup closes them, which ends a
// serve function that reads until the peer goes.
func TestListen(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("sub", func(t *testing.T) {
		addr = testkit.Listen(t, func(c net.Conn) {
			_, _ = io.WriteString(c, "hi")
			_, _ = io.Copy(io.Discard, c)
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("read %q, %v", buf, err)
		}
	})
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still listening after the test")
	}
}
