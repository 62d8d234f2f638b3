package testkit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/internal/testkit"
)

// service records how it was started and stopped.
type service struct {
	startErr       error
	started        bool
	stopped        bool
	stopHasTimeout bool
}

func (s *service) Start(context.Context) error { s.started = true; return s.startErr }

func (s *service) Stop(ctx context.Context) error {
	s.stopped = true
	_, s.stopHasTimeout = ctx.Deadline()
	return nil
}

func TestStart(t *testing.T) {
	t.Parallel()
	var graced, patient service
	t.Run("sub", func(t *testing.T) {
		testkit.Start(t, &graced, time.Second)
		testkit.Start(t, &patient, 0)
		if !graced.started || graced.stopped {
			t.Fatalf("during the test: %+v", graced)
		}
	})
	if !graced.stopped || !graced.stopHasTimeout {
		t.Errorf("with grace: %+v, want stopped with a deadline", graced)
	}
	if !patient.stopped || patient.stopHasTimeout {
		t.Errorf("without grace: %+v, want stopped without a deadline", patient)
	}

	failing := service{startErr: errors.New("no")}
	if o := end(t, func(tb testing.TB) { testkit.Start(tb, &failing, 0) }); !strings.Contains(o.failed, "start: no") {
		t.Errorf("a failed Start: failed %q", o.failed)
	}
}
