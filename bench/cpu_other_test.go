//go:build !linux

package bench_test

import "time"

// processCPU and procCPU read Linux's accounting; elsewhere they say 0 and
// the cpu-ns/op metrics are meaningless.
func processCPU() time.Duration { return 0 }

func procCPU(int) time.Duration { return 0 }
