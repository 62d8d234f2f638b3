package domain_test

import (
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// FuzzIndexAgreesWithMatch builds an Index from a few fuzzer-made patterns
// over the words "a", "b", "*", "#" and the empty word, then checks that
// Index.Match returns exactly the values of the bound patterns Match accepts,
// through adding, removing half, and removing the rest. It also checks Match
// against a naive recursive matcher.
//
// spec holds the patterns separated by '|'; spec and key are mapped onto small
// alphabets so that most inputs exercise wildcards and empty words.
func FuzzIndexAgreesWithMatch(f *testing.F) {
	var rabbit []string
	for _, b := range rabbitBindings {
		rabbit = append(rabbit, b.pattern)
	}
	for _, c := range rabbitExpect {
		f.Add(strings.Join(rabbit, "|"), c.key)
	}
	for _, seed := range [][2]string{
		{"a.#.b|#.#|*.#|#.*.#", "a.b"},
		{"#|*|", ""},
		{"#|*|*.*|.", "."},
		{"a..b|a.*.b|a.|.a|a.#", "a..b"},
		{"a*|#a|*|#", "a*"},
		{"#.a.#.a|a.#|#.b.#", "b.a.a.b"},
		{"a|a|a.b|a", "a"},
		{"*.#.*|#.*|*.*.#", "a.b.a"},
	} {
		f.Add(seed[0], seed[1])
	}

	f.Fuzz(func(t *testing.T, spec, key string) {
		patterns := strings.Split(onAlphabet(spec, "ab*#.|", 64), "|")
		patterns = patterns[:min(len(patterns), 8)]
		keys := append([]string{onAlphabet(key, "ab*#.", 24)}, patterns...)

		type binding struct {
			pattern string
			v       int
		}
		bound := map[binding]int{} // the model: how many times each pair is bound
		ix := domain.NewIndex[int]()
		check := func(stage string) {
			t.Helper()
			if got, want := ix.Len(), sum(maps.Values(bound)); got != want {
				t.Fatalf("%s: Len() = %d, want %d", stage, got, want)
			}
			for _, k := range keys {
				wantSet := map[int]bool{}
				for b, n := range bound {
					if domain.Match(b.pattern, k) != naiveMatch(b.pattern, k) {
						t.Fatalf("Match(%q, %q) = %v, naive matcher disagrees", b.pattern, k, domain.Match(b.pattern, k))
					}
					if n > 0 && domain.Match(b.pattern, k) {
						wantSet[b.v] = true
					}
				}
				want := slices.Sorted(maps.Keys(wantSet))
				got := ix.Match(k, nil)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: patterns %q, key %q: Index.Match = %v, want %v", stage, patterns, k, got, want)
				}
			}
		}
		remove := func(stage string, b binding) {
			t.Helper()
			want := bound[b] > 0
			if got := ix.Remove(b.pattern, b.v); got != want {
				t.Fatalf("%s: Remove(%q, %d) = %v, want %v", stage, b.pattern, b.v, got, want)
			}
			if want {
				bound[b]--
			}
		}

		// Values repeat every 3 patterns, so one value can be bound by several.
		for i, p := range patterns {
			ix.Add(p, i%3)
			bound[binding{p, i % 3}]++
		}
		check("added")
		for i, p := range patterns {
			if i%2 == 1 {
				remove("removing odd", binding{p, i % 3})
			}
			remove("removing never bound", binding{p, 99})
		}
		check("removed odd")
		for i, p := range patterns {
			if i%2 == 0 {
				remove("removing even", binding{p, i % 3})
			}
		}
		check("removed all")
	})
}

// naiveMatch is RabbitMQ's rule written as plainly as possible, to check
// Match's backtracking. It takes exponential time on some inputs, so only
// small ones go through it.
func naiveMatch(binding, key string) bool {
	split := func(s string) []string {
		if s == "" {
			return nil // zero words, where strings.Split gives one empty word
		}
		return strings.Split(s, ".")
	}
	var match func(p, k []string) bool
	match = func(p, k []string) bool {
		switch {
		case len(p) == 0:
			return len(k) == 0
		case p[0] == "#":
			return match(p[1:], k) || len(k) > 0 && match(p, k[1:])
		case len(k) == 0:
			return false
		default:
			return (p[0] == "*" || p[0] == k[0]) && match(p[1:], k[1:])
		}
	}
	return match(split(binding), split(key))
}

// onAlphabet returns the first limit bytes of s with every byte outside
// alphabet replaced by one inside it.
func onAlphabet(s, alphabet string, limit int) string {
	b := []byte(s[:min(len(s), limit)])
	for i, c := range b {
		if strings.IndexByte(alphabet, c) < 0 {
			b[i] = alphabet[int(c)%len(alphabet)]
		}
	}
	return string(b)
}

func sum(counts iter.Seq[int]) int {
	total := 0
	for n := range counts {
		total += n
	}
	return total
}
