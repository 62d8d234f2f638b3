package brokertest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// ContainerImage is the RabbitMQ image started through testcontainers-go. The
// official image lets guest/guest log in from outside the container.
const ContainerImage = "rabbitmq:3.13-management"

// dockerProbeTimeout bounds the check that a Docker engine answers.
const dockerProbeTimeout = 5 * time.Second

// startContainer starts ContainerImage when a Docker engine answers, and
// reports errUnavailable quickly when none does.
func startContainer(ctx context.Context) (*Broker, func(), error) {
	if err := dockerAnswers(ctx); err != nil {
		return nil, nil, fmt.Errorf("no Docker engine answers (%v): %w", err, errUnavailable)
	}
	return runContainer(ctx)
}

// dockerAnswers asks the Docker engine that testcontainers-go would use for its
// info, within dockerProbeTimeout.
func dockerAnswers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dockerProbeTimeout)
	defer cancel()
	_, err := guard(ctx, func() (struct{}, error) {
		p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, p.Health(ctx) // Health closes p
	}, nil)
	return err
}

// runContainer starts ContainerImage without checking for an engine first.
// It returns an error, never panics, and gives up when ctx ends even if
// testcontainers-go does not.
func runContainer(ctx context.Context) (*Broker, func(), error) {
	type started struct {
		b   *Broker
		ctr *testcontainers.DockerContainer
	}
	res, err := guard(ctx, func() (started, error) {
		ctr, err := testcontainers.Run(ctx, ContainerImage,
			testcontainers.WithLogger(tclog.NewNoopLogger()),
			testcontainers.WithExposedPorts("5672/tcp", "15672/tcp"),
			testcontainers.WithEnv(map[string]string{
				"RABBITMQ_DEFAULT_USER": "guest",
				"RABBITMQ_DEFAULT_PASS": "guest",
			}),
			testcontainers.WithWaitStrategy(
				wait.ForLog("Server startup complete").WithStartupTimeout(2*time.Minute),
				wait.ForListeningPort("5672/tcp"),
			),
		)
		if err != nil {
			terminate(ctr)
			return started{}, err
		}
		amqpAddr, err := ctr.PortEndpoint(ctx, "5672/tcp", "")
		if err != nil {
			terminate(ctr)
			return started{}, err
		}
		mgmtAddr, err := ctr.PortEndpoint(ctx, "15672/tcp", "")
		if err != nil {
			terminate(ctr)
			return started{}, err
		}
		return started{
			b: &Broker{
				URL:           "amqp://guest:guest@" + amqpAddr + "/",
				ManagementURL: "http://guest:guest@" + mgmtAddr,
				Source:        SourceTestcontainers,
			},
			ctr: ctr,
		}, nil
	}, func(s started) { terminate(s.ctr) })
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: %w", ContainerImage, err)
	}
	return res.b, sync.OnceFunc(func() { terminate(res.ctr) }), nil
}

func terminate(ctr *testcontainers.DockerContainer) {
	if ctr != nil {
		_ = testcontainers.TerminateContainer(ctr)
	}
}

// guard runs fn in its own goroutine, turning a panic into an error and
// returning ctx's error if ctx ends first. A result that arrives after guard
// gave up is handed to abandon (if not nil), so nothing leaks.
func guard[T any](ctx context.Context, fn func() (T, error), abandon func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	var mu sync.Mutex
	gaveUp := false
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{err: fmt.Errorf("testcontainers panicked: %v", p)}
			}
			mu.Lock()
			late := gaveUp
			if !late {
				done <- r // buffered: never blocks
			}
			mu.Unlock()
			if late && r.err == nil && abandon != nil {
				abandon(r.v)
			}
		}()
		r.v, r.err = fn()
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		select {
		case r := <-done: // finished while we were deciding
			return r.v, r.err
		default:
		}
		gaveUp = true
		var zero T
		return zero, fmt.Errorf("gave up: %w", ctx.Err())
	}
}
