package domain_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// rabbitBindings and rabbitExpect are the vectors of RabbitMQ's own topic
// exchange test: topic1 in deps/rabbit/test/routing_SUITE.erl of
// github.com/rabbitmq/rabbitmq-server. The two "args-test" bindings differ
// only in their arguments there; here they are the same pair bound twice.
var rabbitBindings = []struct{ pattern, queue string }{
	{"a.b.c", "t1"},
	{"a.*.c", "t2"},
	{"a.#.b", "t3"},
	{"a.b.b.c", "t4"},
	{"#", "t5"},
	{"#.#", "t6"},
	{"#.b", "t7"},
	{"*.*", "t8"},
	{"a.*", "t9"},
	{"*.b.c", "t10"},
	{"a.#", "t11"},
	{"a.#.#", "t12"},
	{"b.b.c", "t13"},
	{"a.b.b", "t14"},
	{"a.b", "t15"},
	{"b.c", "t16"},
	{"", "t17"},
	{"*.*.*", "t18"},
	{"vodka.martini", "t19"},
	{"a.b.c", "t20"},
	{"*.#", "t21"},
	{"#.*.#", "t22"},
	{"*.#.#", "t23"},
	{"*", "t25"},
	{"#.b.#", "t26"},
	{"args-test", "t27"},
	{"args-test", "t27"},
}

// rabbitRemoved are the 1-based positions in rabbitBindings that topic1
// unbinds before its second round of checks.
var rabbitRemoved = []int{1, 5, 11, 19, 21, 27}

type rabbitCase struct {
	key    string
	queues []string
}

var rabbitExpect = []rabbitCase{
	{"a.b.c", []string{"t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23", "t26"}},
	{"a.b", []string{"t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23", "t26"}},
	{"a.b.b", []string{"t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t26"}},
	{"", []string{"t5", "t6", "t17"}},
	{"b.c.c", []string{"t5", "t6", "t18", "t21", "t22", "t23", "t26"}},
	{"a.a.a.a.a", []string{"t5", "t6", "t11", "t12", "t21", "t22", "t23"}},
	{"vodka.gin", []string{"t5", "t6", "t8", "t21", "t22", "t23"}},
	{"vodka.martini", []string{"t5", "t6", "t8", "t19", "t21", "t22", "t23"}},
	{"b.b.c", []string{"t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t26"}},
	{"nothing.here.at.all", []string{"t5", "t6", "t21", "t22", "t23"}},
	{"oneword", []string{"t5", "t6", "t21", "t22", "t23", "t25"}},
	{"args-test", []string{"t5", "t6", "t21", "t22", "t23", "t25", "t27"}},
}

var rabbitExpectAfterRemove = []rabbitCase{
	{"a.b.c", []string{"t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t26"}},
	{"a.b", []string{"t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t26"}},
	{"a.b.b", []string{"t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t26"}},
	{"", []string{"t6", "t17"}},
	{"b.c.c", []string{"t6", "t18", "t22", "t23", "t26"}},
	{"a.a.a.a.a", []string{"t6", "t12", "t22", "t23"}},
	{"vodka.gin", []string{"t6", "t8", "t22", "t23"}},
	{"vodka.martini", []string{"t6", "t8", "t22", "t23"}},
	{"b.b.c", []string{"t6", "t10", "t13", "t18", "t22", "t23", "t26"}},
	{"nothing.here.at.all", []string{"t6", "t22", "t23"}},
	{"oneword", []string{"t6", "t22", "t23", "t25"}},
	// t27 stays: only one of its two bindings was removed.
	{"args-test", []string{"t6", "t22", "t23", "t25", "t27"}},
}

// keptRabbitBindings returns rabbitBindings without the rabbitRemoved ones.
func keptRabbitBindings() []struct{ pattern, queue string } {
	var kept []struct{ pattern, queue string }
	for i, b := range rabbitBindings {
		if !slices.Contains(rabbitRemoved, i+1) {
			kept = append(kept, b)
		}
	}
	return kept
}

// linearRoute matches key against every binding with domain.Match and
// returns the sorted distinct queues.
func linearRoute(bindings []struct{ pattern, queue string }, key string) []string {
	var queues []string
	for _, b := range bindings {
		if domain.Match(b.pattern, key) {
			queues = append(queues, b.queue)
		}
	}
	slices.Sort(queues)
	return slices.Compact(queues)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestMatchRabbitMQVectors(t *testing.T) {
	t.Parallel()
	rounds := []struct {
		name     string
		bindings []struct{ pattern, queue string }
		cases    []rabbitCase
	}{
		{"all bound", rabbitBindings, rabbitExpect},
		{"after unbinding", keptRabbitBindings(), rabbitExpectAfterRemove},
	}
	for _, r := range rounds {
		for _, c := range r.cases {
			t.Run(r.name+"/"+c.key, func(t *testing.T) {
				t.Parallel()
				got := linearRoute(r.bindings, c.key)
				if want := sorted(c.queues); !slices.Equal(got, want) {
					t.Errorf("key %q routes to %v, want %v", c.key, got, want)
				}
			})
		}
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a.", 127) + "a" // 128 words, 255 bytes
	tests := []struct {
		binding, key string
		want         bool
	}{
		// Literals.
		{"a.b", "a.b", true},
		{"a.b", "a.b.c", false},
		{"a.b.c", "a.b", false},
		{"A", "a", false},
		{"", "", true},
		{"", "a", false},
		{"a", "", false},

		// "#" matches zero or more words.
		{"#", "", true},
		{"#", "a", true},
		{"#", "a.b.c", true},
		{"#", ".", true},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"a.#", "b.a", false},
		{"#.a", "a", true},
		{"#.a", "b.c.a", true},
		{"#.a", "a.b", false},
		{"a.#.b", "a.b", true},
		{"a.#.b", "a.x.b", true},
		{"a.#.b", "a.x.y.b", true},
		{"a.#.b", "a.b.c", false},
		{"a.#.b", "a", false},
		{"a.#.b", "b.a.b", false},
		{"#.b.#", "b", true},
		{"#.b.#", "x.b.y.z", true},
		{"#.b.#", "x.y", false},
		{"#.a.#.a", "a.a", true},
		{"#.a.#.a", "x.a.y.z.a", true},
		{"#.a.#.a", "a.a.b", false},
		{"#.#", "", true},
		{"#.#", "a.b", true},

		// "*" matches exactly one word, which may be empty.
		{"*", "", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*", ".", false},
		{"*.*", ".", true},
		{"*.*", "a", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a..c", true},
		{"a.*.c", "a.c", false},

		// Runs mixing "*" and "#": at least as many words as "*"s.
		{"*.#", "", false},
		{"*.#", "a", true},
		{"*.#", "a.b.c", true},
		{"#.*", "", false},
		{"#.*", "a", true},
		{"#.*", "a.b", true},
		{"#.*.#", "", false},
		{"#.*.#", "a", true},
		{"#.*.#", ".", true},
		{"#.*.#", "a.b.c", true},
		{"*.#.*", "a", false},
		{"*.#.*", "a.b", true},
		{"*.#.*", "a.b.c.d", true},

		// Empty words.
		{"a..b", "a..b", true},
		{"a..b", "a.b", false},
		{"a.*.b", "a..b", true},
		{".", ".", true},
		{".", "", false},
		{"", ".", false},
		{"a.", "a.", true},
		{"a.", "a", false},
		{"a", "a.", false},
		{"a.*", "a.", true},
		{"a.#", "a.", true},
		{".a", ".a", true},
		{"*.a", ".a", true},

		// Wildcards only as whole words; in a key they are plain words.
		{"a*", "a*", true},
		{"a*", "ab", false},
		{"#a", "#a", true},
		{"#a", "xa", false},
		{"#a", "a", false},
		{"a.b*", "a.b.c", false},
		{"*", "*", true},
		{"a.*", "a.#", true},
		{"a", "*", false},
		{"#", "#", true},

		// Long keys, including ones that would make naive backtracking blow up.
		{"#.a", long, true},
		{strings.Repeat("*.", 127) + "*", long, true},
		{strings.Repeat("*.", 126) + "*", long, false},
		{"#.b", long, false},
		{strings.Repeat("#.a.", 40) + "b", long, false},
		{strings.Repeat("#.a.", 40) + "#", long, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q~%q", tt.binding, tt.key), func(t *testing.T) {
			t.Parallel()
			if got := domain.Match(tt.binding, tt.key); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.binding, tt.key, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       string
		wantErr string // "" for valid
	}{
		{"empty", "", ""},
		{"words", "group1.web.#", ""},
		{"255 bytes", strings.Repeat("a", 255), ""},
		{"256 bytes", strings.Repeat("a", 256), "is 256 bytes, at most 255 allowed"},
		{"300 bytes", strings.Repeat("a.", 150), "is 300 bytes, at most 255 allowed"},
		{"bytes not runes", strings.Repeat("é", 128), "is 256 bytes, at most 255 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []struct {
				what     string
				validate func(string) error
			}{
				{"routing key", domain.ValidateKey},
				{"binding pattern", domain.ValidateBinding},
			} {
				err := v.validate(tt.s)
				if tt.wantErr == "" {
					if err != nil {
						t.Errorf("%s: unexpected error %v", v.what, err)
					}
					continue
				}
				if !errors.Is(err, domain.ErrBadKey) {
					t.Errorf("%s: error %v does not wrap ErrBadKey", v.what, err)
				}
				if want := v.what + " " + tt.wantErr; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %v, want it to contain %q", v.what, err, want)
				}
			}
		})
	}
}

func ExampleMatch() {
	fmt.Println(domain.Match("group1.#", "group1.web.cpu"))
	fmt.Println(domain.Match("*.web", "group1.web"))
	fmt.Println(domain.Match("*.web", "web")) // "*" needs exactly one word
	fmt.Println(domain.Match("#.web", "web")) // "#" may match none
	// Output:
	// true
	// true
	// false
	// true
}

func ExampleIndex() {
	ix := domain.NewIndex[string]()
	ix.Add("all", "q1")
	ix.Add("all", "q2")
	ix.Add("group1.#", "q1")
	ix.Add("*.web", "q2")
	ix.Add("q1", "q1")

	var dst []string
	for _, key := range []string{"all", "group1.web", "q1"} {
		dst = ix.Match(key, dst[:0])
		slices.Sort(dst) // Match's order is unspecified
		fmt.Println(key, "->", dst)
	}
	// Output:
	// all -> [q1 q2]
	// group1.web -> [q1 q2]
	// q1 -> [q1]
}
