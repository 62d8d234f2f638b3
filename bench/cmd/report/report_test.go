package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sample is two rounds of make bench output, abridged.
const sample = `go: go1.26.8
cores: 2
rabbitmq: 3.10.8
goos: linux
goarch: amd64
pkg: github.com/topicrpc/topicrpc/bench
cpu: AMD EPYC
BenchmarkRPC/inflight=1/impl=baseline-2   4000  300000 ns/op  250000 p50-ns  900000 p99-ns  3333 calls/s  100000 cpu-ns/op  5000 B/op  136 allocs/op
BenchmarkRPC/inflight=1/impl=protocol-2   3000  330000 ns/op  275000 p50-ns  990000 p99-ns  3030 calls/s  120000 cpu-ns/op  11000 B/op  300 allocs/op
BenchmarkRPC/inflight=1/impl=topicrpc-2   3000  330000 ns/op  275000 p50-ns  990000 p99-ns  3030 calls/s  130000 cpu-ns/op  13000 B/op  338 allocs/op
BenchmarkMemoryRPC/inflight=1/impl=topicrpc-2  100000  1500 ns/op  666666 calls/s
PASS
goos: linux
pkg: github.com/topicrpc/topicrpc/bench
BenchmarkRPC/inflight=1/impl=topicrpc-2   3000  330000 ns/op  300000 p50-ns  990000 p99-ns  3030 calls/s
BenchmarkRPC/inflight=1/impl=baseline-2   4000  300000 ns/op  200000 p50-ns  900000 p99-ns  3333 calls/s
BenchmarkMemoryRPC/inflight=1/impl=topicrpc-2  100000  2500 ns/op  400000 calls/s
pkg: github.com/topicrpc/topicrpc/domain
BenchmarkIndexMatch/bindings=100000-2   1000000  200 ns/op  0 B/op  0 allocs/op
BenchmarkLinearMatch/bindings=100000-2  1000  3000000 ns/op  0 B/op  0 allocs/op
ok  	github.com/topicrpc/topicrpc/domain	3.1s
`

func TestParse(t *testing.T) {
	t.Parallel()
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.get("bench/RPC/inflight=1/impl=topicrpc", "p50-ns"); len(got) != 2 || got[0] != 275000 || got[1] != 300000 {
		t.Errorf("topicrpc p50 samples = %v", got)
	}
	if got := r.get("domain/IndexMatch/bindings=100000", "ns/op"); len(got) != 1 {
		t.Errorf("index samples = %v", got)
	}
	if r.config["rabbitmq"] != "3.10.8" || r.config["cpu"] != "AMD EPYC" {
		t.Errorf("config = %v", r.config)
	}
}

func TestRatioPairsRounds(t *testing.T) {
	t.Parallel()
	mid, lo, hi, ok := ratio([]float64{275, 300}, []float64{250, 200})
	if !ok || lo != 1.1 || hi != 1.5 || mid != 1.3 {
		t.Errorf("ratio = %v %v %v %v, want 1.3 1.1 1.5", mid, lo, hi, ok)
	}
	if mid, _, _, _ := ratio([]float64{3, 5, 4}, []float64{2}); mid != 2 {
		t.Errorf("unpaired ratio = %v, want median 4 / 2", mid)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	render(&b, r, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	got := b.String()
	for _, want := range []string{
		"Measured 2026-01-02 on AMD EPYC, 2 cores",
		"RabbitMQ 3.10.8",
		// p50 medians 225 µs and 288 µs; per-round ratios 1.1 and 1.5.
		"| one at a time | p50 | 225 µs | 288 µs | 1.30× (1.10–1.50) | ≤ 1.15× baseline | **missed** by 1.13× |",
		"| round trip | time/op | — | 2 µs | — | ≤ 2 µs | **met**, 1.0× to spare |",
		"| one at a time | p50 | 225 µs | 275 µs | 288 µs | 1.22× | 1.05× |",
		"| one at a time | 100 µs | 120 µs | 130 µs | — | — | — |",
		"| 100,000 bindings | time/op | 3 ms | 200 ns | 15000× faster | ≥ 100× faster | **met**, 150.0× to spare |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "fan-out") || strings.Contains(got, "| routes-per-call |") {
		t.Errorf("rows without figures should be left out:\n%s", got)
	}
}

func TestRunKeepsTextOutsideMarkers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "bench.out"), filepath.Join(dir, "BENCHMARKS.md")
	if err := os.WriteFile(in, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nold\n" + endMarker + "\n\n## Findings\n\nkept\n"
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasPrefix(got, "# Benchmarks\n\nintro\n\n"+beginMarker) || !strings.HasSuffix(got, endMarker+"\n\n## Findings\n\nkept\n") ||
		strings.Contains(got, "\nold\n") {
		t.Errorf("splice:\n%s", got)
	}
}
