package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// ClientConfig tunes a Client. The zero value is ready to use.
type ClientConfig struct {
	// Timeout is the deadline of a call whose context has none; DefaultTimeout if zero.
	Timeout time.Duration
	// IdleGap ends a call whose expected servers are unknown after this long
	// with no reply (once nothing is in progress); DefaultIdleGap if zero,
	// none if negative. Keep it well above the servers' AckDelay
	// (DefaultAckDelay, 20 ms): a server still working says so only then.
	IdleGap time.Duration
	// Roster, when set, tells who should answer when neither the fleet
	// register nor the transport's routes can.
	Roster *Roster
	// RegisterTTL is how long a client reuses what the fleet register
	// (ports.Register) said about a target: who it reaches, and who of them
	// is up, down or stopped. DefaultRegisterTTL if zero; negative reads it
	// for every call. A server that started within the TTL may answer as
	// unexpected; one that went down within it is waited for, and named
	// not received. A one-shot client (the CLI) reads it once either way.
	RegisterTTL time.Duration
	// NoRegister leaves the fleet register aside: who should answer comes
	// from the transport's routes, the roster, or the replies alone.
	NoRegister bool
	// MaxArgs is the largest Command.Args sent, in bytes; DefaultMaxArgs if
	// < 1. Call refuses longer args before sending anything.
	MaxArgs int
	// Record keeps every call as a job in the transport's results store
	// (ports.JobStore), when it has one: the call's record (who was
	// expected), and each server's acks and result, stored by the servers,
	// so that a reply coming after the call ended can be looked up
	// (Jobs.Lookup). Submit records its calls whatever this says. It costs
	// a confirmed write to the store before each call's request goes out
	// (waited for a quarter of the call's time at most, 1 s at most: see
	// recordWait), and one per reply (see docs/BENCHMARKS.md).
	Record bool
	// AuthKey, when set, signs every request (a fresh random nonce and an
	// HMAC-SHA256 signature, see domain.Sign) for servers holding the same
	// key; at least domain.MinKeySize random bytes. Never logged.
	AuthKey []byte
	// Identity, when set, signs every request with the caller's own key
	// pair instead (Ed25519, domain.Signer), naming the caller by the
	// key's name: servers trusting its public key know who calls.
	Identity *domain.PrivateKey
	// Caller is the name requests carry when Identity is not set: claimed,
	// not proven (with AuthKey, claimed by a holder of the fleet key).
	Caller string
	// Tracer, when set, traces every call (see CallTracer); nil costs
	// nothing.
	Tracer CallTracer
	// ServerKeys, when it holds keys, are the servers' public keys: a reply,
	// presence message or register entry signed by the server it names is
	// believed, and, with AuthKey too, one signed with the fleet key. Every
	// other one is refused like a forgery (Summary.Forged).
	ServerKeys *domain.Keyring
}

// Defaults for ClientConfig.
const (
	DefaultTimeout = 10 * time.Second
	DefaultIdleGap = time.Second
)

// ErrBadTarget is wrapped by Call errors about the target.
var ErrBadTarget = errors.New("bad target")

// Client calls targets and gathers the replies. It is safe for concurrent use;
// each Call is used by one goroutine.
type Client struct {
	t      ports.Transport
	cfg    ClientConfig
	log    *slog.Logger
	now    func() time.Time
	prefix string
	seq    atomic.Uint64
	wakers sync.Pool     // of *waker, borrowed by calls
	view   *registerView // nil when the transport keeps no register
	signer domain.Signer // signs requests: Identity, else AuthKey; zero: unsigned
	trust  domain.Trust  // replies, presence and register entries believed; zero: all

	registerWarned, routesWarned atomic.Bool // each warning is logged once

	records inflight // recorded calls' records being stored (submit.go)
	// recordsLate: a call's record took longer than its wait; calls go
	// out without waiting for theirs until a record is stored again.
	recordsLate atomic.Bool
}

// NewClient returns a client on t. log may be nil.
func NewClient(t ports.Transport, cfg ClientConfig, log *slog.Logger) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IdleGap == 0 {
		cfg.IdleGap = DefaultIdleGap
	}
	if cfg.MaxArgs < 1 {
		cfg.MaxArgs = DefaultMaxArgs
	}
	if cfg.RegisterTTL == 0 {
		cfg.RegisterTTL = DefaultRegisterTTL
	}
	if log == nil {
		log = slog.Default()
	}
	var id [6]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand documents it)
	c := &Client{t: t, cfg: cfg, log: log, now: time.Now, prefix: hex.EncodeToString(id[:]) + "-",
		signer: domain.Signer{FleetKey: cfg.AuthKey, Key: cfg.Identity},
		trust:  domain.Trust{FleetKey: cfg.AuthKey, Keys: cfg.ServerKeys}}
	if reg, ok := t.(ports.Register); ok && !cfg.NoRegister {
		c.view = newRegisterView(reg, cfg.RegisterTTL, c.trust)
	}
	return c
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	count    int
	balanced bool
	servers  []string
}

// ExpectCount finishes the call as soon as n results arrived, whoever sent them.
func ExpectCount(n int) CallOption { return func(o *callOptions) { o.count = n } }

// Balanced sends the call to the work queue of the group named by the
// target: exactly one of the group's servers runs it (at least once: if that
// server dies mid-job, another one runs it again). The call ends with the
// first result.
func Balanced() CallOption { return func(o *callOptions) { o.balanced = true } }

// Servers addresses the call to these servers by name (each reached by its
// own routing key, "<name>", which every server binds by default) instead of
// to the target; the target only labels the call. They are the expected set.
func Servers(names ...string) CallOption { return func(o *callOptions) { o.servers = names } }

// Call sends cmd to every server target reaches and returns the call in
// progress: read its replies with Next (or Replies), then its Summary.
//
// The call's deadline is ctx's, or now plus ClientConfig.Timeout when ctx has
// none; it travels with the request so servers stop working at it. Cancelling
// ctx ends the call early (the summary's reason is then cancelled).
//
// Call fails at once, before anything is sent, for a malformed target or
// command; with an error wrapping ports.ErrNoRoute when nothing is bound to
// the target; and with the transport's error when the request could not be
// sent. A queue refusing the request (ports.ErrQueueFull) does not fail the
// call: its server will show as not received, and Call logs a warning.
func (c *Client) Call(ctx context.Context, target string, cmd domain.Command, opts ...CallOption) (*Call, error) {
	if err := validateTarget(target); err != nil {
		return nil, fmt.Errorf("call %s: %w", target, err)
	}
	if err := cmd.Validate(); err != nil {
		return nil, fmt.Errorf("call %s: %w", target, err)
	}
	if err := checkArgs(cmd.Args, c.cfg.MaxArgs); err != nil {
		return nil, fmt.Errorf("call %s: %w", target, err)
	}
	o := applyOptions(opts)
	start := c.now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(c.cfg.Timeout)
	}
	exp := domain.Expectation{Count: o.count, IdleGap: max(c.cfg.IdleGap, 0)}
	if err := c.expect(ctx, target, &o, &exp, start); err != nil {
		return nil, fmt.Errorf("call %s: %w", target, err)
	}
	// The waker's timer is set for the deadline from the reading just taken:
	// Next waits without reading the clock again.
	done, w := ctx.Done(), c.waker(deadline.Sub(start))
	call := &Call{
		client:  c,
		done:    done,
		req:     domain.Request{Target: target, Command: cmd, Sent: start, Deadline: deadline, Balanced: o.balanced},
		w:       w,
		armed:   deadline,
		batchAt: start,
	}
	call.req.ID = c.nextID(&call.id, start) // the id's bytes are the call's
	call.agg.Reset(exp, start, deadline)
	call.pending = call.inline[:0]
	store, record := c.t.(ports.JobStore)
	record = record && c.cfg.Record
	call.req.Record = record
	if c.cfg.Tracer != nil {
		span := c.cfg.Tracer.StartCall(ctx, &call.req)
		call.span = &span
	}
	if record {
		call.recordFirst(ctx, store, c.callRecord(&call.req, &exp, false))
	}
	if err := c.send(ctx, call, o.servers); err != nil {
		c.putWaker(call.w)
		err = fmt.Errorf("call %s: %w", target, err)
		if call.span != nil {
			(*call.span).End(domain.Summary{}, err)
		}
		return nil, err
	}
	return call, nil
}

// applyOptions gathers opts. It takes the options' address only when there
// are some, so that a call without options does not allocate them.
func applyOptions(opts []CallOption) callOptions {
	if len(opts) == 0 {
		return callOptions{}
	}
	o := new(callOptions)
	for _, f := range opts {
		f(o)
	}
	return *o
}

// Register returns the fleet register of the client's transport, and false
// when it keeps none.
func (c *Client) Register() (ports.Register, bool) {
	r, ok := c.t.(ports.Register)
	return r, ok
}

// ErrNoRegister: the transport keeps no fleet register.
var ErrNoRegister = errors.New("the transport keeps no fleet register")

// Census is Census on the client's transport, leaving out the entries not
// signed with the client's key when it has one; ErrNoRegister when the
// transport keeps no register.
func (c *Client) Census(ctx context.Context) ([]Registered, error) {
	reg, ok := c.t.(ports.Register)
	if !ok {
		return nil, ErrNoRegister
	}
	return CensusTrusting(ctx, reg, c.trust)
}

// Resolve tells who a call to target should reach right now: the servers
// expected to answer and true when the register, the transport or the
// roster knows, else nil and false. Servers the register knows to be down
// or stopped are not among them.
func (c *Client) Resolve(ctx context.Context, target string) ([]string, bool, error) {
	if err := validateTarget(target); err != nil {
		return nil, false, err
	}
	var o callOptions
	var exp domain.Expectation
	if err := c.expect(ctx, target, &o, &exp, c.now()); err != nil {
		return nil, false, err
	}
	return exp.Servers, exp.Known, nil
}

// expect fills in who should answer: the named servers, one of a balanced
// group, the fleet register's view (with who is down or stopped), the
// transport's routes, the roster's view, or unknown. A register or routes
// that fail are warned about once and passed over: discovery never fails a
// call that could still be made.
func (c *Client) expect(ctx context.Context, target string, o *callOptions, exp *domain.Expectation, now time.Time) error {
	switch {
	case o.servers != nil:
		for _, s := range o.servers {
			if err := validateTarget(s); err != nil {
				return fmt.Errorf("server %q: %w", s, err)
			}
		}
		exp.Servers, exp.Known = o.servers, true
		return nil
	case o.balanced:
		exp.Count = 1 // anyone of the group; who is unknown until it answers
		return nil
	}
	if c.view != nil {
		r, err := c.view.lookup(ctx, target, now)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return err
			}
			if !c.registerWarned.Swap(true) {
				c.log.Warn("the fleet register cannot be read; telling who should answer from routes or presence instead", "err", err)
			}
		case len(r.servers)+len(r.absent) > 0:
			exp.Servers, exp.Absent, exp.Known = r.servers, r.absent, true
			return nil
		}
	}
	servers, err := c.t.Routes(ctx, target)
	switch {
	case err == nil && len(servers) == 0:
		return fmt.Errorf("%w %s", ports.ErrNoRoute, target)
	case err == nil:
		exp.Servers, exp.Known = servers, true
	case !errors.Is(err, ports.ErrRoutesUnknown) && ctx.Err() != nil:
		return err
	default:
		if !errors.Is(err, ports.ErrRoutesUnknown) && !c.routesWarned.Swap(true) {
			c.log.Warn("the transport cannot tell who a target reaches (management API?); using presence instead", "err", err)
		}
		// A server without presence would be missing from the roster: an
		// empty view leaves the set unknown; Send still says ErrNoRoute when
		// nothing at all is bound.
		if c.cfg.Roster != nil {
			if servers := c.cfg.Roster.Reach(target); len(servers) > 0 {
				exp.Servers, exp.Known = servers, true
			}
		}
	}
	return nil
}

// send publishes the call's request, to each named server or to the target.
func (c *Client) send(ctx context.Context, call *Call, servers []string) error {
	keys := servers
	if keys == nil {
		keys = []string{call.req.Target}
	}
	var refused []error
	for _, key := range keys {
		req := &call.req
		if servers != nil {
			r := call.req
			r.Target = key
			req = &r
		}
		c.sign(req) // each copy its own nonce: the signature covers the target
		err := c.t.Send(ctx, req, call)
		switch {
		case err == nil:
		case errors.Is(err, ports.ErrQueueFull) && !errors.Is(err, ports.ErrNoRoute),
			servers != nil && errors.Is(err, ports.ErrNoRoute):
			// That server will show as not received; the others go on.
			refused = append(refused, err)
		default:
			c.t.Forget(call.req.ID)
			return err
		}
	}
	if refused != nil {
		c.log.Warn("some servers did not get the request", "target", call.req.Target, "err", errors.Join(refused...))
	}
	return nil
}

// idSize is the longest correlation id: the call's time
// (domain.JobIDTimeDigits hex digits), a 13-byte prefix and a sequence
// number of at most 13 base-36 digits.
const idSize = domain.JobIDTimeDigits + 2*6 + 1 + 13

// nextID returns a correlation id unique to this client: the unix second of
// at in hex (so that a job is found by reading the results store from about
// then: domain.JobTime), its random prefix and a sequence number, written
// in buf, which becomes the string's memory: buf must not change
// afterwards. The Call holding buf holds the id's bytes, so that the id
// costs no allocation of its own.
func (c *Client) nextID(buf *[idSize]byte, at time.Time) string {
	b := strconv.AppendUint(append(domain.AppendJobIDTime(buf[:0], at), c.prefix...), c.seq.Add(1), 36)
	if &b[0] != &buf[0] { // cannot happen with idSize right; stay correct anyway
		return string(b)
	}
	return unsafe.String(&b[0], len(b))
}

func validateTarget(target string) error {
	if err := domain.ValidateTarget(target); err != nil {
		return fmt.Errorf("%w: %w", ErrBadTarget, err)
	}
	return nil
}

// Do runs a call to its end and returns its summary and every server's
// outcome, sorted by server name.
func (c *Client) Do(ctx context.Context, target string, cmd domain.Command, opts ...CallOption) (domain.Summary, []domain.Outcome, error) {
	call, err := c.Call(ctx, target, cmd, opts...)
	if err != nil {
		return domain.Summary{}, nil, err
	}
	for _, ok := call.Next(); ok; _, ok = call.Next() {
	}
	return call.Summary(), call.Outcomes(), nil
}

// waker lends a waker to a call, its timer set to fire in d.
func (c *Client) waker(d time.Duration) *waker {
	if w, ok := c.wakers.Get().(*waker); ok {
		w.set(d)
		return w
	}
	return newWaker(d)
}

// putWaker takes back a call's waker once the call is over. A Deliver that
// read w before the call ended, or a timer already going off, may still
// signal it: the next borrower then wakes once for nothing, which Next
// allows for.
func (c *Client) putWaker(w *waker) {
	w.timer.Stop()
	select {
	case <-w.ready:
	default:
	}
	c.wakers.Put(w)
}
