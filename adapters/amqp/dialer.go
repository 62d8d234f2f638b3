package amqp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// dialer connects to one of a Transport's brokers (Config.URL and URLs):
// every connection the Transport opens goes through it, so each fails over
// the same way. It tries the brokers one after the other, each bounded by
// DialTimeout, until one answers.
//
// Order: with Config.OrderedURLs, always from the first. Otherwise the
// brokers are shuffled once, when the dialer is made, and each dial starts
// with the broker after the one the last successful dial reached: a fleet
// started with one list spreads over the nodes, and a node's connections,
// when it goes down, spread over the others.
//
// It is safe for concurrent use.
type dialer struct {
	cfg     Config
	urls    []string // in the order tried
	ordered bool

	mu   sync.Mutex
	next int // index in urls of the broker tried first
}

// newDialer returns the dialer of cfg's brokers, or an error naming the
// first URL that does not parse. shuffle permutes the brokers (nil: a
// random permutation).
func newDialer(cfg Config, shuffle func(n int, swap func(i, j int))) (*dialer, error) {
	urls := cfg.brokers()
	for _, u := range urls {
		if err := checkURL(u); err != nil {
			return nil, err
		}
	}
	if !cfg.OrderedURLs {
		if shuffle == nil {
			shuffle = rand.Shuffle
		}
		shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
	}
	return &dialer{cfg: cfg, urls: urls, ordered: cfg.OrderedURLs}, nil
}

// dial connects to the first broker that answers, trying each once in the
// dialer's order, each within DialTimeout and all within ctx. It returns
// the connection and the broker's URL, redacted (for logs). When none
// answers, the error names each broker with its own reason (for one
// broker, that broker's error as it is).
func (d *dialer) dial(ctx context.Context) (*amqp.Connection, string, error) {
	d.mu.Lock()
	start := d.next
	d.mu.Unlock()
	var errs []error
	for k := range d.urls {
		i := (start + k) % len(d.urls)
		conn, err := dialOne(ctx, d.cfg, d.urls[i])
		if err == nil {
			if !d.ordered {
				d.mu.Lock()
				d.next = (i + 1) % len(d.urls)
				d.mu.Unlock()
			}
			return conn, RedactURL(d.urls[i]), nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(d.urls) == 1 {
		return nil, "", errs[0]
	}
	return nil, "", &noBroker{tried: len(errs), of: len(d.urls), errs: errs}
}

// budget is how long one dial may take at most: DialTimeout per broker.
func (d *dialer) budget() time.Duration { return time.Duration(len(d.urls)) * d.cfg.DialTimeout }

// String lists the brokers, redacted, in the order tried.
func (d *dialer) String() string {
	out := make([]string, len(d.urls))
	for i, u := range d.urls {
		out[i] = RedactURL(u)
	}
	return strings.Join(out, ",")
}

// noBroker is the error of a dial that reached none of several brokers: one
// line naming each with its reason. errors.Is and As see every reason.
type noBroker struct {
	tried, of int
	errs      []error
}

func (e *noBroker) Error() string {
	parts := make([]string, len(e.errs))
	for i, err := range e.errs {
		parts[i] = strings.TrimPrefix(err.Error(), "amqp: ")
	}
	what := fmt.Sprintf("none of the %d brokers answered", e.of)
	if e.tried < e.of {
		what = fmt.Sprintf("no broker answered before the deadline (%d of %d tried)", e.tried, e.of)
	}
	return "amqp: " + what + ": " + strings.Join(parts, "; ")
}

func (e *noBroker) Unwrap() []error { return e.errs }
