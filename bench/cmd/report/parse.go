package main

import (
	"bufio"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// results holds go test -bench output: the configuration lines ("key:
// value", the last value of each key wins) and every sample of every metric
// of every benchmark, in the order they were printed.
type results struct {
	config  map[string]string
	samples map[string]map[string][]float64 // benchmark → unit → values
	order   []string                        // benchmarks in first-seen order
}

var (
	configLine = regexp.MustCompile(`^([a-z][a-zA-Z0-9_-]*): (.+)$`)
	procSuffix = regexp.MustCompile(`-\d+$`)
)

// parse reads benchmark output in the Go benchmark format, as go test prints
// it and benchstat reads it. A benchmark is named by its package's last
// element and its name without "Benchmark" and the GOMAXPROCS suffix:
// "bench/RPC/inflight=1/impl=baseline", "domain/IndexMatch/bindings=1000".
func parse(r io.Reader) (*results, error) {
	res := &results{config: map[string]string{}, samples: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	pkg := ""
	for sc.Scan() {
		line := sc.Text()
		if m := configLine.FindStringSubmatch(line); m != nil {
			res.config[m[1]] = strings.TrimSpace(m[2])
			if m[1] == "pkg" {
				pkg = m[2][strings.LastIndexByte(m[2], '/')+1:]
			}
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		if pkg != "" {
			name = pkg + "/" + name
		}
		m := res.samples[name]
		if m == nil {
			m = map[string][]float64{}
			res.samples[name] = m
			res.order = append(res.order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// get returns the samples of unit for benchmark name.
func (r *results) get(name, unit string) []float64 { return r.samples[name][unit] }

// median returns the median of xs, or false when there are none.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// ratio compares two sides measured in the same rounds: with as many samples
// on each side, the median of the ratios of the samples taken in the same
// round (each side's i-th sample), and their range; otherwise the ratio of
// the medians, with a range of zero width.
func ratio(num, den []float64) (mid, lo, hi float64, ok bool) {
	if len(num) == 0 || len(den) == 0 {
		return 0, 0, 0, false
	}
	if len(num) != len(den) {
		n, _ := median(num)
		d, _ := median(den)
		if d == 0 {
			return 0, 0, 0, false
		}
		return n / d, n / d, n / d, true
	}
	rs := make([]float64, 0, len(num))
	for i := range num {
		if den[i] != 0 {
			rs = append(rs, num[i]/den[i])
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0, false
	}
	mid, _ = median(rs)
	lo, hi = rs[0], rs[0]
	for _, r := range rs {
		lo, hi = min(lo, r), max(hi, r)
	}
	return mid, lo, hi, true
}
