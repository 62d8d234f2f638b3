package cli

import (
	"slices"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"", "abc", 3}, {"grop1", "group1", 1}, {"ecco", "echo", 1},
		{"ehco", "echo", 1}, {"q3", "q1", 1}, {"kitten", "sitting", 3}, {"payments", "paymnets", 1},
	} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
		if d := editDistance(tc.b, tc.a); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, d, tc.d)
		}
	}
}

func TestTargetNamesAndSuggestions(t *testing.T) {
	t.Parallel()
	regs := []domain.Registration{
		{Server: "q1", Bindings: []string{"all.#", "q1.#", "group1.#", "*.eu", "web.frontend"}},
		{Server: "payments-worker-eu-west-1", Bindings: []string{"all.#", "payments-worker-eu-west-1.#", "group1.#", "payments.#"}},
	}
	var words []string
	for _, n := range targetNames(regs) {
		words = append(words, n.word)
	}
	want := []string{"all", "group1", "payments", "web.frontend", "q1", "payments-worker-eu-west-1"}
	if !slices.Equal(words, want) {
		t.Fatalf("targets %q, want %q", words, want)
	}
	names := targetNames(regs)
	for _, tc := range []struct {
		word string
		want []string
	}{
		{"grop1", []string{"group1"}},
		{"group1", nil}, // known
		{"paymnets", []string{"payments"}},
		{"paym", []string{"payments", "payments-worker-eu-west-1"}},
		{"payments-worker-eu-west-2", []string{"payments-worker-eu-west-1"}},
		{"zzz", nil},
		{"al", []string{"all"}},
	} {
		if got := suggest(tc.word, names); !slices.Equal(got, tc.want) {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
