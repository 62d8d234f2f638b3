package amqp

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// replyGuard.route: queue names are always safe; a direct reply-to node
// needs a probe until proven, is refused once poisonous; the node is its
// hash as RabbitMQ reads it (name and leading zeros ignored).
func TestReplyGuardRoute(t *testing.T) {
	t.Parallel()
	now := time.Now()
	g, _ := newReplyGuard(t.Context(), Config{}.withDefaults())
	route := func(replyTo string) (string, bool, error) { return g.route(replyTo, now) }

	if _, safe, err := route("amq.gen-JzTY20BRgKO-HjmUJj0wLg"); !safe || err != nil {
		t.Errorf("a queue name: safe %v, err %v", safe, err)
	}
	if _, _, err := route("amq.rabbitmq.reply-to.abc"); !errors.Is(err, ErrPoisonReplyTo) {
		t.Errorf("a malformed address: err %v", err)
	}
	good, goodAlias, bad := pidAddress("reply@52941812", 12), pidAddress("x@0052941812", 12), pidAddress("reply@90000000001", 12)
	node, safe, err := route(good)
	if safe || err != nil || node != "52941812" {
		t.Errorf("an unproven node: node %q, safe %v, err %v", node, safe, err)
	}
	g.prove(node, now)
	for _, a := range []string{good, goodAlias} {
		if _, safe, err := route(a); !safe || err != nil {
			t.Errorf("%s, proven: safe %v, err %v", a, safe, err)
		}
	}
	if _, safe, _ := g.route(good, now.Add(provenNodeTTL)); safe {
		t.Error("a proof must expire")
	}
	badNode, _, _ := route(bad)
	g.poisoned(badNode, now.Add(time.Second))
	if _, _, err := route(bad); !errors.Is(err, ErrPoisonReplyTo) {
		t.Errorf("a poisonous node: err %v", err)
	}
	// While the probe backs off, an expired proof still holds.
	if _, safe, _ := g.route(good, now.Add(provenNodeTTL).Add(-time.Millisecond)); !safe {
		t.Error("a proof within its time")
	}
	g.prove(node, now.Add(-provenNodeTTL)) // expired
	if _, safe, _ := route(good); !safe {
		t.Error("an expired proof must hold while the probe backs off")
	}
}

// The poisonous nodes remembered are bounded.
func TestReplyGuardForgetsOldPoison(t *testing.T) {
	t.Parallel()
	g, _ := newReplyGuard(t.Context(), Config{}.withDefaults())
	for i := range badNodesMax + 10 {
		g.poisoned(fmt.Sprint(i+1), time.Time{})
	}
	if len(g.bad) > badNodesMax || len(g.bad) != len(g.badSeq) {
		t.Errorf("%d poisonous nodes kept (%d in order), at most %d", len(g.bad), len(g.badSeq), badNodesMax)
	}
	if _, ok := g.bad[fmt.Sprint(badNodesMax+10)]; !ok {
		t.Error("the newest poisonous node was forgotten")
	}
}

// BenchmarkReplyGuardRoute: what every reply to a direct reply-to address
// pays to find its node proven (0 allocations).
func BenchmarkReplyGuardRoute(b *testing.B) {
	g, _ := newReplyGuard(b.Context(), Config{}.withDefaults())
	addr := "amq.rabbitmq.reply-to.g1h2AA9yZXBseUAxMjg2MDgxMDAAABqMAAAAAWsBmsY=.ROd1XrsTMfvZkHA6nSYMRg=="
	now := time.Now()
	node, _, _ := g.route(addr, now)
	g.prove(node, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, safe, _ := g.route(addr, now); !safe {
			b.Fatal("not proven")
		}
	}
}
