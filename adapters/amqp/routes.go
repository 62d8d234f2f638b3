package amqp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// maxBindingsBody bounds the management API answer read for routes (about
// 40,000 bindings).
const maxBindingsBody = 16 << 20

// routeView answers Routes from the RabbitMQ management HTTP API: it reads
// the bindings of the request exchange and matches the routing key against
// them with domain.Index, the matcher the broker itself agrees with (see the
// differential test in test/integration). It is safe for concurrent use.
type routeView struct {
	api      *url.URL // management base URL, credentials included
	vhost    string
	exchange string
	prefix   string
	ttl      time.Duration
	client   *http.Client

	mu      sync.Mutex
	index   *domain.Index[string]
	fetched time.Time
}

func newRouteView(cfg Config) (*routeView, error) {
	if cfg.ManagementURL == "" {
		return nil, nil
	}
	api, err := url.Parse(strings.TrimRight(cfg.ManagementURL, "/"))
	if err != nil || (api.Scheme != "http" && api.Scheme != "https") || api.Host == "" {
		return nil, fmt.Errorf("amqp: management URL %s: want http://user:password@host:15672", RedactURL(cfg.ManagementURL))
	}
	vhost := "/"
	if u, err := url.Parse(cfg.brokers()[0]); err == nil && len(u.Path) > 1 {
		vhost = strings.TrimPrefix(u.Path, "/")
		if v, err := url.PathUnescape(vhost); err == nil {
			vhost = v
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = cfg.TLS
	return &routeView{
		api: api, vhost: vhost, exchange: cfg.Exchange, prefix: cfg.QueuePrefix, ttl: cfg.RoutesTTL,
		client: &http.Client{Timeout: cfg.DialTimeout, Transport: transport},
	}, nil
}

// routes returns the endpoint queues key reaches, sorted.
func (v *routeView) routes(ctx context.Context, key string) ([]string, error) {
	ix, err := v.bindings(ctx)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	names := ix.Match(key, nil)
	v.mu.Unlock()
	slices.SortFunc(names, cmp.Compare[string])
	return names, nil
}

// bindings returns the index of the exchange's bindings, fetched anew when
// the cached one is older than the TTL.
func (v *routeView) bindings(ctx context.Context) (*domain.Index[string], error) {
	v.mu.Lock()
	if v.index != nil && time.Since(v.fetched) < v.ttl {
		ix := v.index
		v.mu.Unlock()
		return ix, nil
	}
	v.mu.Unlock()

	// The vhost "/" must travel as %2F: build the path by hand.
	endpoint := v.api.String() + "/api/exchanges/" + url.PathEscape(v.vhost) + "/" +
		url.PathEscape(v.exchange) + "/bindings/source"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil { // a *url.Error would repeat the URL, credentials included
		return nil, fmt.Errorf("amqp: routes: management API %s: %w", RedactURL(v.api.String()), urlError(err))
	}
	resp, err := v.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, credentials included
		}
		return nil, fmt.Errorf("amqp: routes: management API %s: %w: %w", RedactURL(v.api.String()), ports.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBindingsBody))
	if err != nil {
		return nil, fmt.Errorf("amqp: routes: read management API answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		// The exchange does not exist yet: no server ever started, nothing is bound.
		return v.store(domain.NewIndex[string]()), nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("amqp: routes: management API %s answered %s: %w", RedactURL(v.api.String()), resp.Status, ports.ErrUnavailable)
	}
	var bindings []struct {
		Destination     string `json:"destination"`
		DestinationType string `json:"destination_type"`
		RoutingKey      string `json:"routing_key"`
	}
	if err := json.Unmarshal(body, &bindings); err != nil {
		return nil, fmt.Errorf("amqp: routes: management API answer: %w", err)
	}
	ix := domain.NewIndex[string]()
	for _, b := range bindings {
		if b.DestinationType != "queue" || !strings.HasPrefix(b.Destination, v.prefix) {
			continue
		}
		ix.Add(b.RoutingKey, strings.TrimPrefix(b.Destination, v.prefix))
	}
	return v.store(ix), nil
}

func (v *routeView) store(ix *domain.Index[string]) *domain.Index[string] {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.index, v.fetched = ix, time.Now()
	return ix
}

// Routes implements ports.Transport. With Config.ManagementURL it returns the
// queues (named as endpoints, without QueuePrefix) whose bindings on the
// request exchange match key, read from the management API at most
// Config.RoutesTTL ago; a queue with no consumer is included, since requests
// routed to it will not be answered. Without a management URL it returns an
// error wrapping ports.ErrRoutesUnknown.
func (t *Transport) Routes(ctx context.Context, key string) ([]string, error) {
	if t.routes == nil {
		return nil, fmt.Errorf("amqp: routes of %s: %w (no management URL)", key, ports.ErrRoutesUnknown)
	}
	if err := domain.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("amqp: routes of %s: %w", key, err)
	}
	names, err := t.routes.routes(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("amqp: routes of %s: %w", key, err)
	}
	return names, nil
}
