package amqp_test

import (
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// Malformed requests published by hand neither crash the server nor come
// back from the queue; those that can be answered get bad_request.
func TestPoisonMessagesAreRejectedAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	var log ranLog
	ep := ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, Concurrency: 2}
	e.Serve(t, srv, ep, log.handler("s1"))
	raw := amqptest.Channel(t, e.Broker.URL)
	replyTo, replies := rawReplies(t, raw)

	tests := []struct {
		name      string
		msg       amqp091.Publishing
		answered  bool // gets a bad_request reply
		wantRunOf string
	}{
		{name: "no reply-to", msg: amqp091.Publishing{CorrelationId: "p1", Type: "echo"}},
		{name: "no correlation id", msg: amqp091.Publishing{ReplyTo: replyTo, Type: "echo"}},
		{name: "nothing at all", msg: amqp091.Publishing{Body: []byte("\x00\xff garbage")}},
		{name: "no command", msg: amqp091.Publishing{CorrelationId: "p4", ReplyTo: replyTo}, answered: true},
		{name: "bad command name", msg: amqp091.Publishing{CorrelationId: "p5", ReplyTo: replyTo, Type: "rm -rf /"}, answered: true},
		{name: "args not UTF-8", msg: amqp091.Publishing{CorrelationId: "p6", ReplyTo: replyTo, Type: "echo", Body: []byte{0xff, 0xfe}}, answered: true},
		{name: "deadline not a number", msg: amqp091.Publishing{CorrelationId: "p7", ReplyTo: replyTo, Type: "echo",
			Headers: amqp091.Table{"topicrpc-deadline": "soon"}}, answered: true},
		{name: "target not a string", msg: amqp091.Publishing{CorrelationId: "p8", ReplyTo: replyTo, Type: "echo",
			Headers: amqp091.Table{"topicrpc-target": int32(7)}}, answered: true},
	}
	answered := map[string]bool{}
	for _, tt := range tests {
		if err := raw.PublishWithContext(testkit.Context(t, 5*time.Second), e.Exchange, "s1", false, false, tt.msg); err != nil {
			t.Fatalf("%s: publish: %v", tt.name, err)
		}
		if tt.answered {
			answered[tt.msg.CorrelationId] = true
		}
	}
	for range len(answered) {
		select {
		case d := <-replies:
			if !answered[d.CorrelationId] || d.Headers["topicrpc-code"] != domain.CodeBadRequest || d.Type != "result" {
				t.Errorf("reply %s: type %s headers %v", d.CorrelationId, d.Type, d.Headers)
			}
			delete(answered, d.CorrelationId)
		case <-time.After(5 * time.Second):
			t.Fatalf("no bad_request reply for %v", answered)
		}
	}

	// Still serving, and nothing was requeued.
	c := newCollector()
	req := request("s1", "echo", "still here")
	if err := cli.Send(testkit.Context(t, 5*time.Second), req, c); err != nil {
		t.Fatal(err)
	}
	if r := c.Take(t, 1, 5*time.Second)[0]; r.Result != "s1:still here" {
		t.Errorf("reply = %+v", r)
	}
	for _, id := range []string{"p1", "p4", "p5", "p6", "p7", "p8"} {
		if log.ran(id) {
			t.Errorf("handler ran malformed request %s", id)
		}
	}
	q, err := raw.QueueDeclarePassive(e.Prefix+"s1", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 0 {
		t.Errorf("%d messages left in the queue; malformed requests must not be requeued", q.Messages)
	}
	select {
	case d := <-replies:
		t.Errorf("unexpected reply %s", d.CorrelationId)
	case <-time.After(100 * time.Millisecond):
	}
}
