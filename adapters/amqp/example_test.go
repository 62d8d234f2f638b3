package amqp_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// printSink prints every reply; a real caller aggregates them.
type printSink struct{}

func (printSink) Deliver(r domain.Reply) { fmt.Println(r.Server, r.Kind, r.Result) }

func Example() {
	ctx := context.Background()
	tr, err := amqp.New(ctx, amqp.Config{URL: "amqp://guest:guest@localhost:5672/"})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()

	// A server named web1 in group1 answers "web1", "group1" and "all".
	sub, err := tr.Serve(ctx, ports.Endpoint{Name: "web1", Bindings: []string{"web1.#", "group1.#", "all.#"}},
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			_ = rw.Reply(ctx, domain.Reply{Kind: domain.KindResult, Result: req.Command.Args})
		})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close(ctx)

	now := time.Now()
	req := &domain.Request{ID: "call-1", Target: "group1", Command: domain.Command{Name: "echo", Args: "hi"},
		Sent: now, Deadline: now.Add(5 * time.Second)}
	if err := tr.Send(ctx, req, printSink{}); err != nil {
		log.Fatal(err) // errors.Is(err, ports.ErrNoRoute) when nobody is bound to group1
	}
	time.Sleep(100 * time.Millisecond) // a real caller waits for the replies it expects
	tr.Forget(req.ID)
}
