package app

import (
	"context"
	"time"
)

// GoodbyeTimeout bounds each goodbye a stopping server says — its presence
// goodbye and its fleet register entry's — so that a server stopped while
// the broker is unreachable spends at most this long on each, not its whole
// stop budget: the time left goes to closing its subscription, and clients
// then call it down (no consumer) instead of stopped.
const GoodbyeTimeout = 3 * time.Second

// goodbyeContext is ctx bounded by GoodbyeTimeout.
func goodbyeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, GoodbyeTimeout)
}
