package integration_test

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/test/internal/bintest"
)

// The attacks of an account with ordinary broker rights (guest) and without
// the fleet key, against a keyed fleet: each must fail, and the operator
// must see what happened. docs/SECURITY.md records them.

// keyedFleet starts q1 (group1) and q2 (group2) with the fleet key, and
// returns the fleet, the key file for clients, and q2's process.
func keyedFleet(t *testing.T) (*fleet, string, *bintest.Proc) {
	t.Helper()
	f := newFleet(t, false)
	keyPath, _ := authKeyFile(t)
	f.server("q1", "--bind", "group1.#", "--auth-key-file", keyPath)
	q2 := f.server("q2", "--bind", "group2.#", "--auth-key-file", keyPath)
	return f, keyPath, q2
}

// attacker is a raw AMQP session of the attacker's.
type attacker struct {
	t  *testing.T
	f  *fleet
	ch *amqp091.Channel
}

func newAttacker(t *testing.T, f *fleet) *attacker {
	return &attacker{t: t, f: f, ch: amqptest.Channel(t, f.b.URL)}
}

// sniff binds a queue of its own to every routing key and returns the
// requests it sees.
func (a *attacker) sniff() <-chan amqp091.Delivery {
	a.t.Helper()
	q, err := a.ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = a.ch.QueueBind(q.Name, "#", a.f.ns, false, nil)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	return a.consume(q.Name, nil)
}

func (a *attacker) consume(queue string, args amqp091.Table) <-chan amqp091.Delivery {
	a.t.Helper()
	d, err := a.ch.Consume(queue, "", true, false, false, false, args)
	if err != nil {
		a.t.Fatal(err)
	}
	return d
}

// forge answers every request from ds as server, with result "FORGED",
// until the test ends.
func (a *attacker) forge(ds <-chan amqp091.Delivery, server string) {
	ch := amqptest.Channel(a.t, a.f.b.URL)
	go func() {
		for d := range ds {
			_ = ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp091.Publishing{
				CorrelationId: d.CorrelationId, AppId: server, Type: "result", Body: []byte("FORGED"),
			})
		}
	}()
}

// capture returns the first request seen, failing the test after 10 s.
func (a *attacker) capture(seen <-chan amqp091.Delivery) amqp091.Delivery {
	a.t.Helper()
	select {
	case d := <-seen:
		return d
	case <-time.After(10 * time.Second):
		a.t.Fatal("the attacker saw no request")
	}
	return amqp091.Delivery{}
}

// republish publishes captured again, unchanged but for its correlation id
// (id) and its reply-to (the attacker's), with routing key key, and returns
// the replies.
func (a *attacker) republish(captured amqp091.Delivery, id, key string) <-chan amqp091.Delivery {
	a.t.Helper()
	replies := a.consume("amq.rabbitmq.reply-to", nil)
	msg := amqp091.Publishing{CorrelationId: id, ReplyTo: "amq.rabbitmq.reply-to", Type: captured.Type,
		Timestamp: captured.Timestamp, Headers: captured.Headers, Body: captured.Body}
	if err := a.ch.PublishWithContext(a.t.Context(), a.f.ns, key, false, false, msg); err != nil {
		a.t.Fatal(err)
	}
	return replies
}

// call runs topicrpc call with the fleet key and returns its exit code, its
// summary and its whole output.
func (f *fleet) keyedCall(keyPath, timeout, target, command string) (int, summaryLine, string) {
	f.t.Helper()
	r := f.client("", "call", "--auth-key-file", keyPath, "--timeout", timeout, "-o", "json", target, command)
	return r.Code, lastSummary(f.t, r.Out), r.Out + r.Err
}

// Sniffing requests through a queue bound to # and answering first (q2 takes
// 300 ms, the forger none): the forged answer is refused and counted; q2's
// real answer is the one shown.
func TestAttackSniffAndForgeReplies(t *testing.T) {
	t.Parallel()
	f, key, _ := keyedFleet(t)
	a := newAttacker(t, f)
	a.forge(a.sniff(), "q2")
	code, s, out := f.keyedCall(key, "10s", "group2", "sleep|300ms")
	if code != 0 || s.OK != 1 || strings.Contains(out, "FORGED") || !strings.Contains(out, `"server":"q2","status":"ok"`) {
		t.Errorf("exit %d, summary %+v; want q2's real answer only\n%s", code, s, out)
	}
	if s.Forged < 1 || !slices.Equal(s.ForgedClaims, []string{"q2"}) {
		t.Errorf("forged %d claiming %v; want the forgery counted, claiming q2", s.Forged, s.ForgedClaims)
	}
}

// Taking q2's requests with a priority consumer and answering as q2: q2
// never gets them, so it is not received; the forged answers are refused.
func TestAttackPriorityConsumerSteals(t *testing.T) {
	t.Parallel()
	f, key, _ := keyedFleet(t)
	a := newAttacker(t, f)
	a.forge(a.consume(f.ns+".q2", amqp091.Table{"x-priority": int32(10)}), "q2")
	code, s, out := f.keyedCall(key, "2s", "q2", "echo|x")
	if code != 2 || s.OK != 0 || strings.Contains(out, "FORGED") {
		t.Errorf("exit %d, summary %+v; want q2 not received, exit 2, no forged result shown\n%s", code, s, out)
	}
	if s.Forged < 1 || !slices.Equal(s.ForgedClaims, []string{"q2"}) {
		t.Errorf("forged %d claiming %v", s.Forged, s.ForgedClaims)
	}
}

// A signed request captured on its way to q1, re-published to "all" with
// the attacker's reply-to: q2 refuses it (not its target), q1 refuses the
// replay; nothing runs.
func TestAttackRepublishToAll(t *testing.T) {
	t.Parallel()
	f, key, _ := keyedFleet(t)
	a := newAttacker(t, f)
	seen := a.sniff()
	if code, s, _ := f.keyedCall(key, "10s", "q1", "echo|once"); code != 0 || s.OK != 1 {
		t.Fatalf("the real call: exit %d, %+v", code, s)
	}
	replies := a.republish(a.capture(seen), "stolen", "all")
	got := map[string]string{}
	for len(got) < 2 {
		select {
		case d := <-replies:
			if d.Type == "result" {
				got[d.AppId], _ = d.Headers["topicrpc-code"].(string)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("replies so far %v; want both servers to refuse", got)
		}
	}
	if got["q1"] != "unauthorized" || got["q2"] != "unauthorized" {
		t.Errorf("re-published to all: %v; want both unauthorized (q1: replay, q2: not its target)", got)
	}
}

// A # binding added to q2's queue on the broker makes q2 receive a call meant
// for q1: q2 refuses it (its own bindings do not match the signed target)
// and says so in its log; the call, which expects q1 alone, ends with q1's
// answer, and shows q2's refusal if it came first.
func TestAttackExtraBinding(t *testing.T) {
	t.Parallel()
	f, key, q2 := keyedFleet(t)
	a := newAttacker(t, f)
	if err := a.ch.QueueBind(f.ns+".q2", "#", f.ns, false, nil); err != nil {
		t.Fatal(err)
	}
	// q2's refusal reaches the caller too: before the call ends, q2 shows
	// as an unexpected error (exit 1); after, it is dropped (exit 0).
	code, s, out := f.keyedCall(key, "10s", "q1", "echo|for q1")
	st := states(s)
	if code != 0 && code != 1 || st["q1"] != "ok" || st["q2"] != "" && st["q2"] != "error" ||
		strings.Count(out, `"result":"for q1"`) != 1 {
		t.Errorf("exit %d, states %v; want q1's answer once, q2 refusing or not yet heard\n%s", code, st, out)
	}
	refusal := "signed for a target this server's bindings do not match"
	for wait := time.Now().Add(10 * time.Second); !strings.Contains(q2.Stderr.String(), refusal); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("q2 did not refuse the call meant for q1:\n%s", q2.Stderr.String())
		}
	}
}

// A signed request replayed after its server restarted (its nonce memory
// lost) is refused: it was sent before the server started.
func TestAttackReplayAfterRestart(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	keyPath, _ := authKeyFile(t)
	q1 := f.server("q1", "--auth-key-file", keyPath)
	a := newAttacker(t, f)
	seen := a.sniff()
	if code, _, out := f.keyedCall(keyPath, "10s", "q1", "echo|once"); code != 0 {
		t.Fatalf("the real call: exit %d\n%s", code, out)
	}
	captured := a.capture(seen)
	if err := q1.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := q1.ExitCode(20 * time.Second); c != 0 {
		t.Fatalf("q1 exited %d", c)
	}
	f.server("q1", "--auth-key-file", keyPath)
	replies := a.republish(captured, "replayed", "q1")
	for {
		select {
		case d := <-replies:
			if d.Type != "result" {
				continue
			}
			if code, _ := d.Headers["topicrpc-code"].(string); code != "unauthorized" || !strings.Contains(string(d.Body)+stringHeader(d, "topicrpc-error"), "sent before this server started") {
				t.Errorf("the replay was answered %s %q %q", code, d.Body, stringHeader(d, "topicrpc-error"))
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("no answer to the replay")
		}
	}
}

func stringHeader(d amqp091.Delivery, name string) string {
	s, _ := d.Headers[name].(string)
	return s
}
