package amqp

import (
	"regexp"
	"strings"
)

// urlStart matches where a URL begins after a comma in a list of URLs: a
// scheme and "://". Splitting only there keeps a comma inside a password
// (amqp://u:a,b@host/) part of its URL.
var urlStart = regexp.MustCompile(`,\s*[A-Za-z][A-Za-z0-9+.-]*://`)

// SplitURLs splits a comma-separated list of broker URLs (the nodes of a
// cluster: "amqp://h1:5672/,amqp://h2:5672/") into its URLs, trimmed of
// spaces and stray commas, empty entries dropped. A new URL starts only at a comma followed
// by a scheme (amqp://, amqps://, memory://...), so a comma in a user name
// or password needs no escaping. A single URL comes back alone.
func SplitURLs(list string) []string {
	var out []string
	add := func(s string) {
		if s = strings.Trim(s, ", \t\n"); s != "" {
			out = append(out, s)
		}
	}
	rest := list
	for {
		loc := urlStart.FindStringIndex(rest)
		if loc == nil {
			add(rest)
			return out
		}
		add(rest[:loc[0]])
		rest = rest[loc[0]+1:]
	}
}

// brokers returns the broker URLs of c: those of URL (which may list
// several, see SplitURLs), then those of URLs, duplicates dropped.
func (c Config) brokers() []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range append([]string{c.URL}, c.URLs...) {
		for _, u := range SplitURLs(list) {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out
}
