package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/topicrpc/topicrpc/ports"
)

// Fleet is a set of servers in one process sharing a transport: the demo's
// fleet, or a process exposing several named endpoints.
type Fleet struct {
	servers []*Server
}

// NewFleet builds one server per config. log may be nil.
func NewFleet(t ports.Transport, cfgs []ServerConfig, log *slog.Logger) *Fleet {
	f := &Fleet{}
	for _, c := range cfgs {
		f.servers = append(f.servers, NewServer(t, c, log))
	}
	return f
}

// Servers returns the fleet's servers.
func (f *Fleet) Servers() []*Server { return f.servers }

// Handle registers h on every server of the fleet.
func (f *Fleet) Handle(name string, h HandlerFunc) error {
	for _, s := range f.servers {
		if err := s.Handle(name, h); err != nil {
			return err
		}
	}
	return nil
}

// Start starts every server; on an error it stops those already started.
func (f *Fleet) Start(ctx context.Context) error {
	for i, s := range f.servers {
		if err := s.Start(ctx); err != nil {
			for _, started := range f.servers[:i] {
				_ = started.Stop(ctx)
			}
			return fmt.Errorf("start fleet: %w", err)
		}
	}
	return nil
}

// Stop stops every server, waiting for handlers in flight until ctx ends.
func (f *Fleet) Stop(ctx context.Context) error {
	var errs []error
	for _, s := range f.servers {
		errs = append(errs, s.Stop(ctx))
	}
	return errors.Join(errs...)
}
