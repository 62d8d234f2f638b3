package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// announcer keeps a server visible: hello on start and in answer to every
// query, a heartbeat every interval, goodbye on stop.
type announcer struct {
	t        ports.Transport
	signer   domain.Signer // every message is signed; zero: unsigned
	hello    domain.Presence
	interval time.Duration
	log      *slog.Logger
	obs      ServerObserver

	watch ports.Subscription
	quit  chan struct{}
	query chan struct{} // a query arrived: say hello (coalesced)
	wg    sync.WaitGroup
	once  sync.Once
}

func newAnnouncer(t ports.Transport, signer domain.Signer, hello domain.Presence, interval time.Duration, log *slog.Logger, obs ServerObserver) *announcer {
	return &announcer{t: t, signer: signer, hello: hello, interval: interval, log: log, obs: obs,
		quit: make(chan struct{}), query: make(chan struct{}, 1)}
}

// start watches for queries and says hello. It watches queries only: the
// other servers' hellos and heartbeats are for rosters, and receiving them
// would make every server's heartbeat cost work on every server. On an error
// the server still serves; the announcer then does nothing.
func (a *announcer) start(ctx context.Context) error {
	w, err := a.t.WatchPresence(ctx, ports.WatchQueries, func(p domain.Presence) {
		if p.Kind == domain.PresenceQuery {
			select {
			case a.query <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	a.watch = w
	if err := a.say(ctx, domain.PresenceHello); err != nil {
		return err
	}
	a.wg.Add(1)
	go a.loop()
	return nil
}

func (a *announcer) say(ctx context.Context, kind domain.PresenceKind) error {
	p := a.hello
	p.Kind, p.Sent = kind, time.Now()
	if !a.signer.IsZero() {
		a.signer.SignPresence(&p)
	}
	ctx, cancel := context.WithTimeout(ctx, a.interval)
	defer cancel()
	err := a.t.Announce(ctx, p)
	a.obs.PresenceSent(kind, err)
	return err
}

func (a *announcer) loop() {
	defer a.wg.Done()
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	for {
		kind := domain.PresenceHeartbeat
		select {
		case <-a.quit:
			return
		case <-tick.C:
		case <-a.query:
			kind = domain.PresenceHello
		}
		if err := a.say(context.Background(), kind); err != nil {
			a.log.Warn("presence not announced", "kind", kind.String(), "err", err)
		}
	}
}

// stop says goodbye and stops. Safe on an announcer that failed to start.
func (a *announcer) stop(ctx context.Context) {
	if a == nil {
		return
	}
	a.once.Do(func() {
		close(a.quit)
		a.wg.Wait()
		if a.watch == nil {
			return
		}
		gctx, cancel := goodbyeContext(ctx)
		defer cancel()
		if err := a.say(gctx, domain.PresenceGoodbye); err != nil {
			a.log.Warn("goodbye not announced", "err", err)
		}
		_ = a.watch.Close(ctx)
	})
}
