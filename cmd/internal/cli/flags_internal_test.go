package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// registerOnly is a transport whose fleet register is the test's.
type registerOnly struct {
	ports.Transport
	reg       *domain.Register
	consumers map[string]int
}

func (r *registerOnly) ReadRegister(context.Context) (*domain.Register, error) { return r.reg, nil }

func (r *registerOnly) UpdateRegister(context.Context, func(*domain.Register) error) error {
	return nil
}

func (r *registerOnly) Consumers(_ context.Context, queues []string) ([]int, error) {
	out := make([]int, len(queues))
	for i, q := range queues {
		out[i] = r.consumers[q]
	}
	return out, nil
}

func (r *registerOnly) DeleteQueue(context.Context, string) (int, error) { return 0, nil }

// --any to a group whose workers are all down or stopped is refused at
// once, naming the group and its workers; one live worker is enough.
func TestAnyRefusedWithoutALiveWorker(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	reg := func(name string, left bool, groups ...string) domain.Registration {
		r := domain.Registration{Server: name, Queue: "topicrpc." + name, Bindings: []string{name + ".#"},
			WorkGroups: groups, Joined: now, Started: now, Seen: now}
		if left {
			r.Left = now
		}
		return r
	}
	tr := &registerOnly{reg: domain.NewRegister([]domain.Registration{
		reg("w1", false, "db"), reg("w2", true, "db"), reg("w3", false, "web"),
	}), consumers: map[string]int{"topicrpc.w3": 1}}
	o := &options{transport: tr, discovery: "auto", log: slog.New(slog.DiscardHandler),
		io: IO{Getenv: func(string) string { return "" }}}

	err := o.checkWorkers(t.Context(), "db")
	if codeOf(err) != ExitSilent || err == nil || !strings.Contains(err.Error(), "no live worker in group db: w1 down, w2 stopped") {
		t.Errorf("db: %v (exit %d)", err, codeOf(err))
	}
	if err := o.checkWorkers(t.Context(), "web"); err != nil {
		t.Errorf("web has a live worker: %v", err)
	}
	if err := o.checkWorkers(t.Context(), "nobody"); err != nil {
		t.Errorf("a group nobody works for is left to the call (no server matched): %v", err)
	}
	tr.consumers["topicrpc.w1"] = 1
	if err := o.checkWorkers(t.Context(), "db"); err != nil {
		t.Errorf("w1 is up now: %v", err)
	}
}

// The summary of an --any call nobody answered says which group had no
// worker answering.
func TestAnyWithoutAnswerNamesTheGroup(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	r := &textRenderer{w: &out, errw: &out, width: noTerminal, names: minNameColumn}
	r.summary(callInfo{target: "db", command: domain.Command{Name: "echo"}, balanced: true},
		domain.Summary{Expected: -1, Reason: domain.DoneDeadline}, nil)
	if !strings.Contains(out.String(), "no worker of group db answered nor acknowledged") {
		t.Errorf("got %s", out.String())
	}
}

// servers prints what a server says of itself escaped: a host or version
// in the register cannot drive the terminal.
func TestServersListingIsEscaped(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	o := &options{io: IO{Out: &out}}
	evil := "h\x1b[2J\r== 0 server(s)\n"
	printRegistered(o, []app.Registered{{Registration: domain.Registration{Server: "q1", Host: evil, Version: evil,
		Bindings: []string{"q1.#"}}, Standing: app.StandingUp}})
	printMembers(o, []domain.Member{{Presence: domain.Presence{Server: "q1", Host: evil, Version: evil}}})
	got := out.String()
	if strings.ContainsAny(got, "\x1b\r") || strings.Count(got, "\n") != 6 || !strings.Contains(got, `h\x1b[2J\r== 0 server(s)\n`) {
		t.Errorf("got %q", got)
	}
}
