package ports

import (
	"context"

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
}

// NoQueue is the count Register.Consumers gives a queue that does not exist.
const NoQueue = -1
