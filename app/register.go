package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// DefaultRegisterRefresh is the default ServerConfig.RegisterRefresh.
const DefaultRegisterRefresh = 10 * time.Minute

// ErrDuplicateServer is wrapped by Start's error when a server of the same
// name is running already (its queue has a consumer).
var ErrDuplicateServer = errors.New("a server of that name is running already")

// registrar keeps a server's entry in the fleet register (ports.Register):
// it refuses to start a second server of a name already running, records
// the server when it starts, refreshes its last-seen time every
// RegisterRefresh, and records its goodbye when it stops. Serving matters
// more than being registered: a register that cannot be written is
// warned about, and the server serves on.
type registrar struct {
	reg     ports.Register
	signer  domain.Signer // the entry is signed at every write; zero: unsigned
	rec     domain.Registration
	refresh time.Duration
	log     *slog.Logger
	obs     ServerObserver

	quit    chan struct{}
	cancel  context.CancelFunc // ends a refresh in progress: stop does not wait out a broker outage
	loopCtx context.Context
	wg      sync.WaitGroup
	once    sync.Once
}

// checkUnique returns an error wrapping ErrDuplicateServer when queue, the
// server's own, has a consumer already: another server of the same name is
// running. It names that one's host, pid and uptime from the register.
func checkUnique(ctx context.Context, reg ports.Register, name, queue string, log *slog.Logger) error {
	counts, err := reg.Consumers(ctx, []string{queue})
	if err != nil {
		log.Warn("could not check that no other server of this name runs", "err", err)
		return nil
	}
	if counts[0] <= 0 {
		return nil
	}
	other := "another process"
	if g, err := reg.ReadRegister(ctx); err == nil {
		if r, ok := g.Get(name); ok && r.Left.IsZero() {
			other = fmt.Sprintf("host %s, pid %d, up %s", r.Host, r.PID, time.Since(r.Started).Round(time.Second))
		}
	}
	return fmt.Errorf("%w: %s (%s); stop it, or give this one another --name", ErrDuplicateServer, name, other)
}

// startRegistrar records rec in reg and keeps it fresh until stop.
func startRegistrar(ctx context.Context, reg ports.Register, signer domain.Signer, rec domain.Registration, refresh time.Duration, log *slog.Logger, obs ServerObserver) *registrar {
	r := &registrar{reg: reg, signer: signer, rec: rec, refresh: refresh, log: log, obs: obs, quit: make(chan struct{})}
	r.loopCtx, r.cancel = context.WithCancel(context.Background())
	err := reg.UpdateRegister(ctx, func(g *domain.Register) error { return r.sign(g, g.Join(rec)) })
	obs.RegisterWritten(err)
	if err != nil {
		log.Warn("not recorded in the fleet register: clients will not name this server if it goes down", "err", err)
	}
	r.wg.Go(r.loop)
	return r
}

// registerCheck is when a server first checks that the register holds its
// entry: two servers writing a brand-new register at once may lose one's.
const registerCheck = 2 * time.Second

func (r *registrar) loop() {
	t := time.NewTimer(min(registerCheck, r.refresh))
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case now := <-t.C:
			t.Reset(r.refresh)
			ctx, cancel := context.WithTimeout(r.loopCtx, r.refresh)
			err := r.reg.UpdateRegister(ctx, func(g *domain.Register) error {
				if _, ok := g.Get(r.rec.Server); !ok {
					return r.sign(g, g.Join(r.rec)) // forgotten while it runs: it is back
				}
				g.Refresh(r.rec.Server, r.rec.Started, now)
				return r.sign(g, nil)
			})
			cancel()
			r.obs.RegisterWritten(err)
			if err != nil {
				r.log.Warn("fleet register not refreshed", "err", err)
			}
		}
	}
}

// sign signs the server's entry in g with the fleet key, if any, after a
// change that returned err (nil: it changed).
func (r *registrar) sign(g *domain.Register, err error) error {
	if err == nil && !r.signer.IsZero() {
		g.Update(r.rec.Server, func(e *domain.Registration) { r.signer.SignRegistration(e) })
	}
	return err
}

// stop ends the refreshes, a refresh in progress included (it may be
// waiting for the broker), and records the goodbye, within ctx and at most
// GoodbyeTimeout.
func (r *registrar) stop(ctx context.Context) {
	r.once.Do(func() {
		close(r.quit)
		r.cancel()
		r.wg.Wait()
		gctx, cancel := goodbyeContext(ctx)
		defer cancel()
		err := r.reg.UpdateRegister(gctx, func(g *domain.Register) error {
			g.Leave(r.rec.Server, r.rec.Started, time.Now())
			return r.sign(g, nil)
		})
		r.obs.RegisterWritten(err)
		if err != nil {
			r.log.Warn("goodbye not recorded in the fleet register: clients will call this server down, not stopped", "err", err)
		}
	})
}
