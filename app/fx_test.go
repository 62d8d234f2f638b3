package app_test

import (
	"testing"

	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/adapters/fxtransport"
	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

func modules(extra ...fx.Option) fx.Option {
	return fx.Options(append([]fx.Option{
		app.Logger(quiet, false),
		fxtransport.Memory(memory.Config{}),
		app.ServerModule(app.ServerConfig{Name: "q1", Bindings: []string{"group1.#"}}),
		app.ClientModule(app.ClientConfig{}),
	}, extra...)...)
}

func TestFxGraphIsValid(t *testing.T) {
	t.Parallel()
	if err := fx.ValidateApp(modules(fx.Invoke(func(*app.Client, *app.Fleet) {}))); err != nil {
		t.Fatal(err)
	}
}

func TestFxAppServesAndStops(t *testing.T) {
	t.Parallel()
	var c *app.Client
	a := fx.New(modules(fx.Populate(&c)))
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	sum, _, err := c.Do(t.Context(), "group1", domain.Command{Name: "echo", Args: "hi"})
	if err != nil || sum.OK != 1 || sum.Reason != domain.DoneAllReplied {
		t.Fatalf("call through the fx app: %+v, %v", sum, err)
	}
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}
