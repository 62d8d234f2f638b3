package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// requestCounter counts a server's requests per command and outcome, and adds
// up the time they took: the shape a metrics middleware takes.
type requestCounter struct {
	mu    sync.Mutex
	count map[string]int // "command outcome" -> requests
	total time.Duration
}

// middleware is the app.Middleware: it runs next, then records the result's
// outcome code ("ok" for none) and how long the request took.
func (c *requestCounter) middleware(next app.Step) app.Step {
	return func(ctx context.Context, in app.Inbound) domain.Reply {
		r := next(ctx, in)
		outcome := r.Code
		if outcome == "" {
			outcome = "ok"
		}
		c.mu.Lock()
		c.count[in.Request.Command.Name+" "+outcome]++
		c.total += time.Since(in.Taken)
		c.mu.Unlock()
		return r
	}
}

// Count requests per command and outcome with a middleware. It sees every
// request the server takes and its outcome, failures and refusals included:
// here arguments fib cannot take, and a command the server does not have.
func ExampleMiddleware() {
	ctx := context.Background()
	transport := memory.New(memory.Config{})
	defer transport.Close()

	counter := &requestCounter{count: map[string]int{}}
	server := app.NewServer(transport, app.ServerConfig{
		Name:       "web1",
		Middleware: []app.Middleware{counter.middleware},
	}, nil)
	if err := server.Start(ctx); err != nil {
		panic(err)
	}
	defer server.Stop(ctx)

	client := app.NewClient(transport, app.ClientConfig{}, nil)
	for _, cmd := range []domain.Command{
		{Name: "echo", Args: "a"}, {Name: "echo", Args: "b"}, {Name: "fib", Args: "x"}, {Name: "nope"},
	} {
		if _, _, err := client.Do(ctx, "web1", cmd); err != nil {
			panic(err)
		}
	}

	counter.mu.Lock()
	defer counter.mu.Unlock()
	keys := make([]string, 0, len(counter.count))
	for k := range counter.count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Println(k, counter.count[k])
	}
	fmt.Println("timed:", counter.total > 0)
	// Output:
	// echo ok 2
	// fib bad_args 1
	// nope unknown_command 1
	// timed: true
}
