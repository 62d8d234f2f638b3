package domain

import (
	"errors"
	"fmt"
	"iter"
	"strings"
)

// Topic matching follows RabbitMQ's topic exchange exactly. A routing key or a
// binding pattern is a list of words separated by '.'; every '.' separates, so
// "" is zero words, "a..b" is three words (the middle one empty) and "a." is
// two words (the second empty). In a binding, the word "*" matches exactly one
// word (possibly the empty word) and the word "#" matches zero or more words.
// They are special only as whole words: "a*" and "#a" are literal words.
// Words compare byte for byte.

// MaxKeyLength is the longest routing key or binding pattern AMQP carries,
// in bytes.
const MaxKeyLength = 255

// ErrBadKey is wrapped by every error from ValidateKey and ValidateBinding.
var ErrBadKey = errors.New("bad routing key")

// ValidateKey reports whether key can be used as a routing key: at most
// MaxKeyLength bytes. Any bytes are allowed, including empty words.
func ValidateKey(key string) error {
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: routing key is %d bytes, at most %d allowed", ErrBadKey, len(key), MaxKeyLength)
	}
	return nil
}

// ValidateBinding reports whether pattern can be used as a binding pattern:
// at most MaxKeyLength bytes. Any bytes are allowed; "*" and "#" words are
// wildcards.
func ValidateBinding(pattern string) error {
	if len(pattern) > MaxKeyLength {
		return fmt.Errorf("%w: binding pattern is %d bytes, at most %d allowed", ErrBadKey, len(pattern), MaxKeyLength)
	}
	return nil
}

// Match reports whether routingKey matches the binding pattern under RabbitMQ
// topic-exchange rules. It is the reference matcher: Index gives the same
// answers for many bindings at once. It does not allocate and takes time
// proportional to at most the product of the two word counts.
func Match(binding, routingKey string) bool {
	// Wildcard matching with backtracking to the last "#" only: a later "#"
	// can absorb anything an earlier one could, so earlier choices never need
	// revisiting. p and k are the byte offsets of the current pattern and key
	// words; an offset past the end of its string means no words are left.
	p, k := firstWord(binding), firstWord(routingKey)
	hashNext, hashKey := -1, -1 // pattern offset after the last "#", key offset it has absorbed up to
	for k <= len(routingKey) {
		if p <= len(binding) {
			pw, pNext := wordAt(binding, p)
			if pw == "#" {
				hashNext, hashKey, p = pNext, k, pNext
				continue
			}
			kw, kNext := wordAt(routingKey, k)
			if pw == "*" || pw == kw {
				p, k = pNext, kNext
				continue
			}
		}
		if hashNext < 0 {
			return false
		}
		_, hashKey = wordAt(routingKey, hashKey) // the last "#" absorbs one more word
		p, k = hashNext, hashKey
	}
	for ; p <= len(binding); p = nextWord(binding, p) {
		if pw, _ := wordAt(binding, p); pw != "#" {
			return false
		}
	}
	return true
}

// firstWord returns the offset of the first word of s: 0, or past the end
// when s is "" and so has no words.
func firstWord(s string) int {
	if s == "" {
		return 1
	}
	return 0
}

// wordAt returns the word starting at offset i of s and the offset of the word
// after it, which is len(s)+1 when there is none. It requires i <= len(s).
func wordAt(s string, i int) (word string, next int) {
	j := strings.IndexByte(s[i:], '.')
	if j < 0 {
		return s[i:], len(s) + 1
	}
	return s[i : i+j], i + j + 1
}

func nextWord(s string, i int) int {
	_, next := wordAt(s, i)
	return next
}

// words yields the words of s, split on every '.'.
func words(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := firstWord(s); i <= len(s); {
			w, next := wordAt(s, i)
			if !yield(w) {
				return
			}
			i = next
		}
	}
}
