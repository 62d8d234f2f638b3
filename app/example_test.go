package app_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// Expose your own function on a server and call it on every server of a group.
func Example() {
	ctx := context.Background()
	transport := memory.New(memory.Config{}) // or amqp.New(ctx, amqp.Config{URL: ...})
	defer transport.Close()

	server := app.NewServer(transport, app.ServerConfig{Name: "web1", Bindings: []string{"web.#"}}, nil)
	_ = server.Handle("upper", func(ctx context.Context, args string) (string, error) {
		return strings.ToUpper(args), nil
	})
	if err := server.Start(ctx); err != nil {
		panic(err)
	}
	defer server.Stop(ctx)

	client := app.NewClient(transport, app.ClientConfig{}, nil)
	call, err := client.Call(ctx, "web", domain.Command{Name: "upper", Args: "hello"})
	if err != nil {
		panic(err)
	}
	for reply := range call.Replies() {
		fmt.Println(reply.Server, reply.Result)
	}
	s := call.Summary()
	fmt.Println(s.Reason, s.OK, "of", s.Expected)
	// Output:
	// web1 HELLO
	// all_replied 1 of 1
}
