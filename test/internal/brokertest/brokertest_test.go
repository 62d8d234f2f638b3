package brokertest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

// roundTrip declares a queue, publishes to it through the default exchange and
// gets the message back.
func roundTrip(t *testing.T, url string) {
	t.Helper()
	ch := amqptest.Channel(t, url)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := []byte("hello " + t.Name())
	if err := ch.PublishWithContext(ctx, "", q.Name, true, false, amqp.Publishing{Body: body}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	// Publishing is asynchronous: poll until the message is routed.
	for {
		d, ok, err := ch.Get(q.Name, true)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if ok {
			if string(d.Body) != string(body) {
				t.Fatalf("got body %q, want %q", d.Body, body)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the published message never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkManagement asks the management API for its overview.
func checkManagement(t *testing.T, base string) {
	t.Helper()
	if base == "" {
		t.Log("no management URL")
		return
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/api/overview")
	if err != nil {
		t.Fatalf("management API: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/overview: %s: %.200s", resp.Status, b)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	roundTrip(t, b.URL)
	checkManagement(t, b.ManagementURL)
}

func TestWaitAMQP(t *testing.T) {
	t.Parallel()
	b := brokertest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := brokertest.WaitAMQP(ctx, b.URL); err != nil {
		t.Fatal(err)
	}
}

func TestWaitAMQPGivesUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	// Port 1 on loopback refuses connections.
	err := brokertest.WaitAMQP(ctx, "amqp://guest:secret@127.0.0.1:1/")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v, want about 1s", d)
	}
}

func TestStartLocal(t *testing.T) {
	t.Parallel()
	script, err := brokertest.BrokerScript()
	if err != nil {
		t.Fatal(err)
	}
	if !brokertest.LocalInstalled(script) {
		testkit.NoBroker(t, "no broker: rabbitmq-server is not installed (apt-get install -y rabbitmq-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, stop, err := brokertest.StartLocal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if b.Source != brokertest.SourceLocal {
		t.Errorf("Source = %q, want %q", b.Source, brokertest.SourceLocal)
	}
	roundTrip(t, b.URL)
	checkManagement(t, b.ManagementURL)

	stop()
	stop() // idempotent
	wctx, wcancel := context.WithTimeout(context.Background(), time.Second)
	defer wcancel()
	if err := brokertest.WaitAMQP(wctx, b.URL); err == nil {
		t.Fatal("the broker still answers after stop")
	}
}

func TestContainerWithoutDocker(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if brokertest.DockerAnswers(ctx) == nil {
		t.Skip("a Docker engine answers; this test covers its absence")
	}

	for _, tc := range []struct {
		name  string
		start func(context.Context) (*brokertest.Broker, func(), error)
	}{
		{"StartContainer", brokertest.StartContainer},
		{"RunContainer", brokertest.RunContainer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			b, stop, err := tc.start(ctx) // a panic would fail the test
			if err == nil {
				stop()
				t.Fatalf("started %+v without a Docker engine", b)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v to fail", d)
			}
			t.Logf("error after %v: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}
