package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/test/internal/bintest"
)

// A signed --any request captured on its way to the work queue and
// re-published there 8 times, unchanged but for the attacker's reply-to,
// with three members of the group (w1, w2, w3, each its own process and
// connection): the call runs once in the whole fleet. Each copy is dropped
// as a duplicate by whichever member takes it (its claim is held by the
// member that ran the call), unanswered; the audit logs say so.
func TestAttackRepublishBalanced(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	keyPath, _ := authKeyFile(t)
	dir := t.TempDir()
	members := []string{"w1", "w2", "w3"}
	var procs []*bintest.Proc
	for _, name := range members {
		p := f.server(name, "--bind", "jobs.#", "--auth-key-file", keyPath, "--audit-log", filepath.Join(dir, name+".jsonl"))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s's log:\n%s", name, p.Stderr.String())
			}
		})
		procs = append(procs, p)
	}
	a := newAttacker(t, f)
	q, err := a.ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = a.ch.QueueBind(q.Name, "jobs", f.ns+".work", false, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	seen := a.consume(q.Name, nil)
	if r := f.client("", "call", "--auth-key-file", keyPath, "--timeout", "20s", "--any", "jobs", "echo|once"); r.Code != 0 {
		t.Fatalf("the real call: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	captured := a.capture(seen)
	replies := a.consume("amq.rabbitmq.reply-to", nil)
	const copies = 8
	for range copies {
		msg := amqp091.Publishing{CorrelationId: captured.CorrelationId, ReplyTo: "amq.rabbitmq.reply-to", Type: captured.Type,
			Timestamp: captured.Timestamp, Headers: captured.Headers, Body: captured.Body, DeliveryMode: amqp091.Persistent}
		if err := a.ch.PublishWithContext(t.Context(), f.ns+".work", "jobs", false, false, msg); err != nil {
			t.Fatal(err)
		}
	}

	// Every copy taken: one record each, the real call's included.
	outcomes := map[string]int{}
	ran := map[string]int{}
	for wait := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		clear(outcomes)
		clear(ran)
		for _, name := range members {
			data, _ := os.ReadFile(filepath.Join(dir, name+".jsonl"))
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) != nil || m["call"] != captured.CorrelationId {
					continue
				}
				o := fmt.Sprint(m["outcome"])
				outcomes[o]++
				if o == "ok" {
					ran[name]++
				}
			}
		}
		if outcomes["ok"]+outcomes["duplicate"] >= copies+1 || time.Now().After(wait) {
			break
		}
	}
	t.Logf("1 signed --any call, re-published %d times to 3 members: outcomes %v, ran on %v", copies, outcomes, ran)
	// A member whose connection broke takes its claims with it, and the
	// broker redelivers what it had not acknowledged (at least once): the
	// call may then run once more, and only then.
	broke := false
	for _, p := range procs {
		broke = broke || strings.Contains(p.Stderr.String(), "connection lost")
	}
	if broke && outcomes["ok"] == 2 && outcomes["duplicate"] == copies {
		t.Logf("ran twice: a member's connection broke meanwhile")
	} else if outcomes["ok"] != 1 || outcomes["duplicate"] != copies {
		t.Errorf("outcomes %v, ran on %v: want the call run once (ok 1) and %d copies dropped (duplicate)", outcomes, ran, copies)
	}
	select {
	case d := <-replies:
		t.Errorf("a copy was answered: %s from %s, headers %v", d.Type, d.AppId, d.Headers)
	case <-time.After(300 * time.Millisecond):
	}
}
