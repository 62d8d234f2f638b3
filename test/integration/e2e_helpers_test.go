package integration_test

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/bintest"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// fleet is a set of topicrpcd processes in one namespace.
type fleet struct {
	t     *testing.T
	b     *brokertest.Broker
	space *amqptest.Namespace
	ns    string // space's exchange: --namespace
	mgmt  bool   // clients get --management-url
}

func newFleet(t *testing.T, withManagement bool) *fleet {
	b := brokertest.Get(t)
	space := namespace(t, b)
	return &fleet{t: t, b: b, space: space, ns: space.Exchange, mgmt: withManagement}
}

// server starts topicrpcd and waits until it serves. It is stopped with
// SIGTERM when the test ends.
func (f *fleet) server(name string, args ...string) *bintest.Proc {
	f.t.Helper()
	argv := append([]string{"--url", f.b.URL, "--namespace", f.ns, "--name", name}, args...)
	return bins.Start(f.t, "topicrpcd", argv...)
}

// bound starts a topicrpcd for each name, bound to binding (besides all.#
// and <name>.#), and returns them in order.
func (f *fleet) bound(binding string, names ...string) []*bintest.Proc {
	f.t.Helper()
	procs := make([]*bintest.Proc, len(names))
	for i, name := range names {
		procs[i] = f.server(name, "--bind", binding)
	}
	return procs
}

// workers starts w1, w2 and w3, bound to jobs.# with four requests at a
// time each, and returns them in order.
func (f *fleet) workers() []*bintest.Proc {
	f.t.Helper()
	var procs []*bintest.Proc
	for _, name := range []string{"w1", "w2", "w3"} {
		procs = append(procs, f.server(name, "--bind", "jobs.#", "--concurrency", "4"))
	}
	return procs
}

// classicFleet is the classic session's fleet: q1 bound to group1.#, q2 to
// group2.#; clients get --management-url when withManagement.
func classicFleet(t *testing.T, withManagement bool) *fleet {
	t.Helper()
	f := newFleet(t, withManagement)
	f.bound("group1.#", "q1")
	f.bound("group2.#", "q2")
	return f
}

// client runs topicrpc with the fleet's connection flags.
func (f *fleet) client(stdin string, args ...string) bintest.Result {
	f.t.Helper()
	argv := append([]string{}, args[0], "--url", f.b.URL, "--namespace", f.ns)
	if f.mgmt {
		argv = append(argv, "--management-url", f.b.ManagementURL)
	}
	argv = append(argv, args[1:]...)
	return bins.Run(f.t, stdin, "topicrpc", argv...)
}

// namespace returns a namespace of the test's own on b; its queues and
// exchanges are deleted when the test ends. Its transports log nothing.
func namespace(t *testing.T, b *brokertest.Broker) *amqptest.Namespace {
	t.Helper()
	ns := amqptest.New(t, b.Kit(), "it")
	ns.Logger = slog.New(slog.DiscardHandler)
	return ns
}

var jobSeq atomic.Int64

// job is a request sent from the test process, not through the CLI, so that
// the test sees every reply, acks included: a server acknowledges a request
// whose handler is still running (after --ack-after, 20 ms by default).
type job struct {
	id      string
	replies chan domain.Reply
}

func (j *job) Deliver(r domain.Reply) {
	select {
	case j.replies <- r:
	default: // the test reads a few replies at most
	}
}

// job sends command to target with the given deadline on a transport of its
// own in the fleet's namespace; balanced sends it to the target group's work
// queue (call --any).
func (f *fleet) job(target, command string, timeout time.Duration, balanced bool) *job {
	f.t.Helper()
	cmd, err := domain.ParseCommand(command)
	if err != nil {
		f.t.Fatal(err)
	}
	tr := f.space.Transport(f.t)
	now := time.Now()
	j := &job{id: fmt.Sprintf("job-%d-%d", now.UnixNano(), jobSeq.Add(1)), replies: make(chan domain.Reply, 64)}
	req := &domain.Request{ID: j.id, Target: target, Command: cmd, Sent: now, Deadline: now.Add(timeout), Balanced: balanced}
	if err := tr.Send(testkit.Context(f.t, 30*time.Second), req, j); err != nil {
		f.t.Fatalf("send %s to %s: %v", command, target, err)
	}
	return j
}

// await returns the next reply of kind (others are skipped), or fails the
// test after d.
func (j *job) await(t *testing.T, kind domain.ReplyKind, d time.Duration) domain.Reply {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case r := <-j.replies:
			if r.Kind == kind {
				return r
			}
		case <-timeout:
			t.Fatalf("job %s: no %s reply within %v", j.id, kind, d)
			return domain.Reply{}
		}
	}
}
