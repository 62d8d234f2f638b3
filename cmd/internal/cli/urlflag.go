package cli

import (
	"errors"
	"slices"
	"strings"

	"github.com/topicrpc/topicrpc/adapters/amqp"
)

// urlList is the --url flag: each use adds brokers (a cluster's nodes) to
// the comma-separated list in *p; one use may itself list several,
// comma-separated, as TOPICRPC_URL may. The first use replaces what *p
// held before (the default); a URL already listed is not added again.
type urlList struct {
	p   *string
	set bool // Set was called: append from now on
}

// Set implements pflag.Value.
func (l *urlList) Set(v string) error {
	add := amqp.SplitURLs(v)
	if len(add) == 0 {
		return errors.New("empty URL")
	}
	var have []string
	if l.set {
		have = amqp.SplitURLs(*l.p)
	}
	l.set = true
	for _, u := range add {
		if !slices.Contains(have, u) {
			have = append(have, u)
		}
	}
	*l.p = strings.Join(have, ",")
	return nil
}

// String implements pflag.Value.
func (l *urlList) String() string {
	if l.p == nil {
		return ""
	}
	return *l.p
}

// Type implements pflag.Value.
func (*urlList) Type() string { return "url" }

// Append implements pflag.SliceValue: it adds v's brokers.
func (l *urlList) Append(v string) error { return l.Set(v) }

// Replace implements pflag.SliceValue (a list in a config file or the
// environment): the brokers become those of vals. The items are joined
// again before they are split, so a comma inside a password that split
// them survives.
func (l *urlList) Replace(vals []string) error {
	l.set = false
	return l.Set(strings.Join(vals, ","))
}

// GetSlice implements pflag.SliceValue.
func (l *urlList) GetSlice() []string { return amqp.SplitURLs(*l.p) }
