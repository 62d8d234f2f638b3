package integration_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// TestTopicMatchingAgreesWithRabbitMQ binds a few hundred random patterns to
// queues on a real topic exchange, publishes random keys, and checks that the
// queues that received each key are exactly those domain.Match predicts —
// and those domain.Index returns.
func TestTopicMatchingAgreesWithRabbitMQ(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ch := amqptest.Channel(t, b.URL)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	exchange := fmt.Sprintf("topicrpc.diff.%d", seed)
	if err := ch.ExchangeDeclare(exchange, "topic", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	words := []string{"a", "b", "c", ""}
	randomKey := func(wild bool) string {
		n := rng.IntN(5) // 0..4 words; 0 words is the empty key
		parts := make([]string, n)
		for i := range parts {
			switch r := rng.IntN(10); {
			case wild && r < 2:
				parts[i] = "#"
			case wild && r < 4:
				parts[i] = "*"
			default:
				parts[i] = words[rng.IntN(len(words))]
			}
		}
		return strings.Join(parts, ".")
	}

	const queues, patterns, keys = 40, 300, 300
	ix := domain.NewIndex[string]()
	bound := map[string][]string{} // queue -> patterns
	names := make([]string, queues)
	for i := range names {
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = q.Name
	}
	for range patterns {
		q, p := names[rng.IntN(queues)], randomKey(true)
		if err := ch.QueueBind(q, p, exchange, false, nil); err != nil {
			t.Fatalf("bind %q: %v", p, err)
		}
		if !slices.Contains(bound[q], p) { // RabbitMQ: binding twice is a no-op
			bound[q] = append(bound[q], p)
			ix.Add(p, q)
		}
	}

	// With publisher confirms, a confirmed message is already in every queue
	// it was routed to, so each queue can then be drained exactly.
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, keys))
	published := make([]string, keys)
	for i := range published {
		published[i] = randomKey(false)
		msg := amqp.Publishing{MessageId: fmt.Sprint(i), Body: []byte(published[i])}
		if err := ch.PublishWithContext(ctx, exchange, published[i], false, false, msg); err != nil {
			t.Fatal(err)
		}
	}
	for range keys {
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("publish %d nacked", c.DeliveryTag)
			}
		case <-ctx.Done():
			t.Fatal("confirms did not arrive")
		}
	}
	got := map[int][]string{} // message -> queues
	for _, q := range names {
		for {
			d, ok, err := ch.Get(q, true)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			var id int
			if _, err := fmt.Sscan(d.MessageId, &id); err != nil {
				t.Fatal(err)
			}
			got[id] = append(got[id], q)
		}
	}
	mismatches := 0
	for i, key := range published {
		var want []string
		for _, q := range names {
			for _, p := range bound[q] {
				if domain.Match(p, key) {
					want = append(want, q)
					break
				}
			}
		}
		fromIndex := ix.Match(key, nil)
		slices.Sort(want)
		slices.Sort(fromIndex)
		have := got[i]
		slices.Sort(have)
		if !slices.Equal(want, have) || !slices.Equal(fromIndex, have) {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("key %q: RabbitMQ delivered to %d queues, Match predicts %d, Index %d", key, len(have), len(want), len(fromIndex))
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d keys routed differently (seed %d)", mismatches, keys, seed)
	}
	delivered := 0
	for _, qs := range got {
		delivered += len(qs)
	}
	t.Logf("%d patterns on %d queues, %d keys, %d deliveries: all agree", patterns, queues, keys, delivered)
	if delivered == 0 {
		t.Fatal("nothing was delivered: the test proved nothing")
	}
}
