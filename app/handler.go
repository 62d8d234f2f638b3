package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/topicrpc/topicrpc/domain"
)

// HandlerFunc runs one command with its args and returns the result. ctx ends
// at the caller's deadline or when the server stops; a handler that runs long
// must watch it. Return an error wrapping ErrBadArgs for arguments the handler
// cannot accept. A panic is recovered and becomes an error reply.
type HandlerFunc func(ctx context.Context, args string) (string, error)

// ErrBadArgs is wrapped by handler errors about their arguments; such errors
// reach the caller with the code domain.CodeBadArgs.
var ErrBadArgs = errors.New("bad arguments")

// Registry maps command names to handlers. It is safe for concurrent use:
// handlers may be added while the server runs.
type Registry struct {
	mu sync.RWMutex
	h  map[string]HandlerFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{h: make(map[string]HandlerFunc)} }

// Handle registers h under name, replacing any handler of that name. It fails
// when name is not a valid command name or h is nil.
func (r *Registry) Handle(name string, h HandlerFunc) error {
	if err := domain.ValidateCommandName(name); err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	if h == nil {
		return fmt.Errorf("register handler %s: nil handler", name)
	}
	r.mu.Lock()
	r.h[name] = h
	r.mu.Unlock()
	return nil
}

// Lookup returns the handler registered under name.
func (r *Registry) Lookup(name string) (HandlerFunc, bool) {
	r.mu.RLock()
	h, ok := r.h[name]
	r.mu.RUnlock()
	return h, ok
}

// Names returns the registered command names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	names := make([]string, 0, len(r.h))
	for n := range r.h {
		names = append(names, n)
	}
	r.mu.RUnlock()
	slices.Sort(names)
	return names
}
