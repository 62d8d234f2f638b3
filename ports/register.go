package ports

import (
	"context"
	"errors"

	"github.com/topicrpc/topicrpc/domain"
)

// Register is implemented by transports that keep the fleet register on the
// broker (both adapters do): every server that joined, until it is
// forgotten, and how it last left. app.Server records itself there, and
// app.Client reads it to tell who should answer and who is gone. A transport
// without it leaves clients to routes and presence.
//
// All methods are safe for concurrent use, by many processes at once.
type Register interface {
	// ReadRegister returns the register as it is now. It blocks at most
	// until ctx ends. The register returned is the caller's.
	ReadRegister(ctx context.Context) (*domain.Register, error)

	// UpdateRegister applies fn to the register and stores the result, as
	// one step: no other update, from any process, comes between its read
	// and its write. fn may run more than once (it must only change the
	// register it is given); an error from fn leaves the register as it
	// was and is returned. It blocks at most until ctx ends.
	UpdateRegister(ctx context.Context, fn func(*domain.Register) error) error

	// Consumers returns, for each of queues (endpoint queue names, as in
	// Endpoint.QueueName), how many consumers it has right now: 0 means no
	// server takes its requests (its server is down or stopped, however the
	// process went), NoQueue that the queue does not exist.
	Consumers(ctx context.Context, queues []string) ([]int, error)

	// DeleteQueue deletes queue (an endpoint queue name) with its bindings
	// and the requests it held, and returns how many it held. It refuses,
	// with an error wrapping ErrQueueInUse, a queue that has a consumer, and
	// with ErrNoQueue one that does not exist.
	DeleteQueue(ctx context.Context, queue string) (held int, err error)
}

// ErrQueueInUse: the queue has a consumer, so it is not deleted.
var ErrQueueInUse = errors.New("queue in use")

// ErrNoQueue: the queue does not exist.
var ErrNoQueue = errors.New("no such queue")

// NoQueue is the count Register.Consumers gives a queue that does not exist.
const NoQueue = -1
