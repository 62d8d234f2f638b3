package faults_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// TestRegisterSurvivesBrokerRestart: the fleet register is a durable queue
// holding a persistent message, so a broker killed and restarted on its
// data still knows every server, with how each one last left; a server that
// said goodbye before the crash is still stopped, and calls still name it.
func TestRegisterSurvivesBrokerRestart(t *testing.T) {
	n := requireNode(t)
	log := testkit.LoggerAt(t, slog.LevelWarn)
	ns := amqptest.New(t, testkit.Broker{URL: n.URL, ManagementURL: n.ManagementURL}, "register")
	for _, name := range []string{"r1", "r2"} {
		srv := app.NewServer(ns.Transport(t), app.ServerConfig{Name: name, Bindings: []string{"rg.#"}}, log)
		testkit.Start(t, srv, 5*time.Second)
		if name == "r2" {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			err := srv.Stop(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := n.RestartKeepingData(ctx); err != nil {
		t.Fatal(err)
	}

	// The transport reconnects to the booted node: reads fail until then.
	tr := ns.Transport(t)
	var g *domain.Register
	var err error
	for wait := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if g, err = tr.ReadRegister(ctx); err == nil || time.Now().After(wait) {
			break
		}
	}
	if err != nil {
		t.Fatalf("the register cannot be read a minute after the restart: %v", err)
	}
	r1, ok1 := g.Get("r1")
	r2, ok2 := g.Get("r2")
	if !ok1 || !ok2 || !r1.Left.IsZero() || r2.Left.IsZero() {
		t.Fatalf("register after the restart: r1 %+v (%v), r2 %+v (%v); want both, r2 with its goodbye", r1, ok1, r2, ok2)
	}
	// r1 serves again on the restarted broker; r2 is still stopped.
	c := app.NewClient(tr, app.ClientConfig{Timeout: 5 * time.Second, RegisterTTL: -1}, log)
	var sum domain.Summary
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if sum, _, err = c.Do(ctx, "rg", domain.Command{Name: "echo", Args: "x"}); err == nil && sum.OK == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if sum.OK != 1 || sum.Stopped != 1 || len(sum.StoppedServers) != 1 || sum.StoppedServers[0] != "r2" {
		t.Errorf("call rg after the restart: %+v (last error %v)", sum, err)
	}
}
