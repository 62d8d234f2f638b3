package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxFib is the largest n the built-in fib accepts: fib(93) overflows uint64.
const MaxFib = 93

// MaxSleep is the longest the built-in sleep accepts.
const MaxSleep = 10 * time.Minute

// Echo returns its args unchanged.
func Echo(_ context.Context, args string) (string, error) { return args, nil }

// Fib returns the n-th Fibonacci number (fib 0 = 0, fib 1 = 1, fib 30 = 832040)
// for an integer n in [0, MaxFib].
func Fib(_ context.Context, args string) (string, error) {
	s := strings.TrimSpace(args)
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: fib wants a whole number from 0 to %d, got %q", ErrBadArgs, MaxFib, s)
	case n < 0:
		return "", fmt.Errorf("%w: fib of a negative number (%d); want 0 to %d", ErrBadArgs, n, MaxFib)
	case n > MaxFib:
		return "", fmt.Errorf("%w: fib %d is too large; at most %d fits in 64 bits", ErrBadArgs, n, MaxFib)
	}
	var a, b uint64 = 0, 1
	for range n {
		a, b = b, a+b
	}
	return strconv.FormatUint(a, 10), nil
}

// Sleep waits for the duration in args ("1.5s", "200ms", or seconds as a number),
// at most MaxSleep, and returns "slept D". It returns early with the context's
// error when ctx ends.
func Sleep(ctx context.Context, args string) (string, error) {
	d, err := parseSleep(strings.TrimSpace(args))
	if err != nil {
		return "", err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return "slept " + d.String(), nil
	case <-ctx.Done():
		return "", fmt.Errorf("sleep %s interrupted: %w", d, context.Cause(ctx))
	}
}

func parseSleep(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || secs != secs || secs < 0 || secs > MaxSleep.Seconds() {
			return 0, fmt.Errorf("%w: sleep wants a duration like 2s or 250ms, got %q", ErrBadArgs, s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 || d > MaxSleep {
		return 0, fmt.Errorf("%w: sleep %s is out of range 0 to %s", ErrBadArgs, s, MaxSleep)
	}
	return d, nil
}
