package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// benchKey is a 4-word routing key. With benchBindings(n) for any n >= 10 it
// matches exactly two bindings: "group4.#" and "#.alert6".
const benchKey = "group4.host1.disk4.alert6"

var benchSizes = []int{10, 1_000, 100_000}

// benchBindings returns n realistic patterns, binding i to value i: a quarter
// each of "group<i>.#", "host<i>.*.cpu", "#.alert<i>" and "*.*.disk<i>".
func benchBindings(n int) []string {
	patterns := make([]string, n)
	for i := range patterns {
		switch i % 4 {
		case 0:
			patterns[i] = fmt.Sprintf("group%d.#", i)
		case 1:
			patterns[i] = fmt.Sprintf("host%d.*.cpu", i)
		case 2:
			patterns[i] = fmt.Sprintf("#.alert%d", i)
		case 3:
			patterns[i] = fmt.Sprintf("*.*.disk%d", i)
		}
	}
	return patterns
}

func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			ix := domain.NewIndex[int]()
			for i, p := range benchBindings(n) {
				ix.Add(p, i)
			}
			loopMatch(b, ix, benchKey, 2)
		})
	}
}

// BenchmarkLinearMatch is the baseline Index must beat: Match against every
// binding in turn.
func BenchmarkLinearMatch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			patterns := benchBindings(n)
			dst := make([]int, 0, 16)
			b.ReportAllocs()
			for b.Loop() {
				dst = dst[:0]
				for i, p := range patterns {
					if domain.Match(p, benchKey) {
						dst = append(dst, i)
					}
				}
			}
			if len(dst) != 2 {
				b.Fatalf("matched %v, want 2 values", dst)
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	cases := []struct{ name, binding, key string }{
		{"literal", "group4.host1.disk4.alert6", benchKey},
		{"trailing-hash", "group4.#", benchKey},
		{"leading-hash", "#.alert6", benchKey},
		{"star-miss", "*.*.disk4", benchKey},
		{"hashes", "#.host1.#.alert6.#", benchKey},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				domain.Match(c.binding, c.key)
			}
		})
	}
}

// BenchmarkIndexMatchAdversarial shows that patterns full of "#" cost
// polynomial, not exponential, time: a 128-word key against patterns that a
// backtracking matcher would try C(128, 40) ways.
func BenchmarkIndexMatchAdversarial(b *testing.B) {
	key := strings.Repeat("a.", 127) + "a"
	ix := domain.NewIndex[int]()
	ix.Add(strings.Repeat("#.a.", 40)+"b", 1)
	ix.Add(strings.Repeat("#.", 127)+"#", 2)
	ix.Add(strings.Repeat("*.", 127)+"*", 3)
	loopMatch(b, ix, key, 2) // values 2 and 3
}

// loopMatch matches key against ix in the benchmark's loop, reusing one
// slice, and fails unless the match found want values.
func loopMatch(b *testing.B, ix *domain.Index[int], key string, want int) {
	b.Helper()
	dst := make([]int, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = ix.Match(key, dst[:0])
	}
	if len(dst) != want {
		b.Fatalf("matched %v, want %d values", dst, want)
	}
}

func BenchmarkIndexAddRemove(b *testing.B) {
	patterns := benchBindings(1_000)
	ix := domain.NewIndex[int]()
	for i, p := range patterns {
		ix.Add(p, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := patterns[i%len(patterns)]
		ix.Remove(p, i%len(patterns))
		ix.Add(p, i%len(patterns))
		i++
	}
}
