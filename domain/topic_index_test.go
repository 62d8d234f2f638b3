package domain_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// indexRoute returns the sorted values ix holds for key, failing t if Match
// returned a value twice or lost what was already in dst.
func indexRoute(t *testing.T, ix *domain.Index[string], key string) []string {
	t.Helper()
	got := ix.Match(key, []string{"sentinel"})
	if len(got) == 0 || got[0] != "sentinel" {
		t.Fatalf("Match(%q) did not append to dst: %v", key, got)
	}
	got = sorted(got[1:])
	if dup := len(got) - len(slices.Compact(slices.Clone(got))); dup > 0 {
		t.Errorf("Match(%q) = %v, has %d duplicates", key, got, dup)
	}
	return got
}

func TestIndexRabbitMQVectors(t *testing.T) {
	t.Parallel()
	ix := domain.NewIndex[string]()
	for _, b := range rabbitBindings {
		ix.Add(b.pattern, b.queue)
	}
	check := func(round string, cases []rabbitCase) {
		for _, c := range cases {
			if got, want := indexRoute(t, ix, c.key), sorted(c.queues); !slices.Equal(got, want) {
				t.Errorf("%s: key %q routes to %v, want %v", round, c.key, got, want)
			}
		}
	}
	check("all bound", rabbitExpect)
	if got, want := ix.Len(), len(rabbitBindings); got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}

	for _, pos := range rabbitRemoved {
		b := rabbitBindings[pos-1]
		if !ix.Remove(b.pattern, b.queue) {
			t.Errorf("Remove(%q, %q) = false, want true", b.pattern, b.queue)
		}
	}
	check("after unbinding", rabbitExpectAfterRemove)
	if got, want := ix.Len(), len(rabbitBindings)-len(rabbitRemoved); got != want {
		t.Errorf("Len() after unbinding = %d, want %d", got, want)
	}

	// RabbitMQ's last round deletes the exchange; here, every binding.
	for _, b := range keptRabbitBindings() {
		if !ix.Remove(b.pattern, b.queue) {
			t.Errorf("Remove(%q, %q) = false, want true", b.pattern, b.queue)
		}
	}
	for _, key := range []string{"a.b.c", "b.b.c", ""} {
		if got := indexRoute(t, ix, key); len(got) != 0 {
			t.Errorf("empty index: key %q routes to %v", key, got)
		}
	}
	if ix.Len() != 0 {
		t.Errorf("Len() of emptied index = %d", ix.Len())
	}
}

// TestIndexAgreesWithMatch checks the index against the reference matcher on
// the edge cases of TestMatch's kind, with every pattern bound at once.
func TestIndexAgreesWithMatch(t *testing.T) {
	t.Parallel()
	patterns := []string{
		"", ".", "a.", ".a", "a..b", "a", "a.b", "a.b.c", "a*", "#a", "a.b*",
		"*", "#", "*.*", "#.#", "*.#", "#.*", "#.*.#", "*.#.*", "a.#", "#.a",
		"a.#.b", "#.b.#", "#.a.#.a", "a.*", "a.*.b", "*.a", "#.#.a.#.#",
	}
	keys := []string{
		"", ".", "..", "a", "b", "a.", ".a", "a..b", "a.b", "a.b.c", "a.x.y.b",
		"a*", "#a", "*", "#", "a.#", "b.a.b", "x.a.y.a", "a.a.a.a.a.a.a.a",
	}
	ix := domain.NewIndex[string]()
	for _, p := range patterns {
		ix.Add(p, p)
	}
	for _, key := range keys {
		var want []string
		for _, p := range patterns {
			if domain.Match(p, key) {
				want = append(want, p)
			}
		}
		if got := indexRoute(t, ix, key); !slices.Equal(got, sorted(want)) {
			t.Errorf("key %q: Index.Match = %q, Match says %q", key, got, sorted(want))
		}
	}
}

func TestIndexDuplicates(t *testing.T) {
	t.Parallel()
	type op struct {
		add           bool // else remove
		pattern, v    string
		wantRemoved   bool     // for removes
		key           string   // checked after the op
		wantKeyRoutes []string // values key routes to after the op
		wantLen       int
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"remove of nothing", []op{
			{pattern: "a.b", v: "q1", wantRemoved: false, key: "a.b", wantLen: 0},
		}},
		{"bound twice, removed once, stays bound", []op{
			{add: true, pattern: "a.b", v: "q1", key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{add: true, pattern: "a.b", v: "q1", key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 2},
			{pattern: "a.b", v: "q1", wantRemoved: true, key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{pattern: "a.b", v: "q1", wantRemoved: true, key: "a.b", wantLen: 0},
			{pattern: "a.b", v: "q1", wantRemoved: false, key: "a.b", wantLen: 0},
		}},
		{"value under two matching patterns appears once", []op{
			{add: true, pattern: "a.#", v: "q1", key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{add: true, pattern: "*.b", v: "q1", key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 2},
			{add: true, pattern: "#", v: "q1", key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 3},
			{add: true, pattern: "#.#", v: "q2", key: "a.b", wantKeyRoutes: []string{"q1", "q2"}, wantLen: 4},
			{pattern: "a.#", v: "q1", wantRemoved: true, key: "a.b", wantKeyRoutes: []string{"q1", "q2"}, wantLen: 3},
		}},
		{"remove needs the same pattern and value", []op{
			{add: true, pattern: "a.*", v: "q1", key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{pattern: "a.*", v: "q2", wantRemoved: false, key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{pattern: "a.#", v: "q1", wantRemoved: false, key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{pattern: "a", v: "q1", wantRemoved: false, key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
			{pattern: "a.*.c", v: "q1", wantRemoved: false, key: "a.b", wantKeyRoutes: []string{"q1"}, wantLen: 1},
		}},
		{"removing a prefix pattern keeps the longer one", []op{
			{add: true, pattern: "a", v: "q1", key: "a.b", wantLen: 1},
			{add: true, pattern: "a.b", v: "q2", key: "a.b", wantKeyRoutes: []string{"q2"}, wantLen: 2},
			{pattern: "a", v: "q1", wantRemoved: true, key: "a.b", wantKeyRoutes: []string{"q2"}, wantLen: 1},
			{add: true, pattern: "a", v: "q1", key: "a", wantKeyRoutes: []string{"q1"}, wantLen: 2},
			{pattern: "a.b", v: "q2", wantRemoved: true, key: "a", wantKeyRoutes: []string{"q1"}, wantLen: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ix domain.Index[string] // the zero value is ready to use
			for i, o := range tt.ops {
				if o.add {
					ix.Add(o.pattern, o.v)
				} else if got := ix.Remove(o.pattern, o.v); got != o.wantRemoved {
					t.Errorf("op %d: Remove(%q, %q) = %v, want %v", i, o.pattern, o.v, got, o.wantRemoved)
				}
				if got := indexRoute(t, &ix, o.key); !slices.Equal(got, o.wantKeyRoutes) {
					t.Errorf("op %d: key %q routes to %v, want %v", i, o.key, got, o.wantKeyRoutes)
				}
				if got := ix.Len(); got != o.wantLen {
					t.Errorf("op %d: Len() = %d, want %d", i, got, o.wantLen)
				}
			}
		})
	}
}

// TestIndexRemovePrunes checks that churn does not leak trie nodes: an index
// that held many bindings and lost them all goes back to about its empty size.
// It measures the heap, so it does not run in parallel with other tests.
func TestIndexRemovePrunes(t *testing.T) {
	const n = 20_000
	patterns := make([]string, n)
	for i := range patterns {
		patterns[i] = fmt.Sprintf("g%d.*.h%d.#.x%d", i, i, i)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	ix := domain.NewIndex[int]()
	before := heap()
	for round := range 3 {
		for i, p := range patterns {
			ix.Add(p, i)
		}
		for i, p := range patterns {
			if !ix.Remove(p, i) {
				t.Fatalf("round %d: Remove(%q, %d) = false", round, p, i)
			}
		}
	}
	after := heap()
	runtime.KeepAlive(ix)
	// The trie for n bindings takes megabytes; an empty one, a few bytes.
	if after > before && after-before > 256<<10 {
		t.Errorf("heap grew by %d bytes after adding and removing %d bindings", after-before, n)
	}
	if ix.Len() != 0 {
		t.Errorf("Len() = %d after removing everything", ix.Len())
	}
}

// TestIndexMatchDoesNotAllocate does not run in parallel: AllocsPerRun
// refuses to.
func TestIndexMatchDoesNotAllocate(t *testing.T) {
	ix := domain.NewIndex[int]()
	for i := range 1000 {
		ix.Add(fmt.Sprintf("group%d.#", i), i)
		ix.Add(fmt.Sprintf("host%d.*.cpu", i), i)
		ix.Add(fmt.Sprintf("#.alert%d", i), i)
		ix.Add(fmt.Sprintf("*.*.disk%d", i), i)
	}
	ix.Add("#", -1)
	dst := make([]int, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		dst = ix.Match("group4.host1.disk4.alert6", dst[:0])
	})
	if allocs != 0 {
		t.Errorf("Match allocated %.1f times per call, want 0", allocs)
	}
	if got, want := sortedInts(dst), []int{-1, 4, 6}; !slices.Equal(got, want) {
		t.Errorf("Match = %v, want %v", got, want)
	}
}

func sortedInts(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
