package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// fleetReadTimeout bounds reading the fleet register for completion and
// suggestions: TAB must never hang, and a mistake is reported at once.
const fleetReadTimeout = time.Second

// readFleet returns the entries census gives (the fleet register's, with
// the key's rule), or an error when they cannot be read within
// fleetReadTimeout.
func readFleet(ctx context.Context, census func(context.Context) ([]app.Registered, error)) ([]domain.Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, fleetReadTimeout)
	defer cancel()
	rs, err := census(ctx)
	if err != nil {
		return nil, err
	}
	regs := make([]domain.Registration, len(rs))
	for i, r := range rs {
		regs[i] = r.Registration
	}
	return regs, nil
}

// name is a name one can type, with what it stands for.
type name struct{ word, about string }

// targetNames are the targets the register knows: all, every group (a
// binding's words before a trailing .#, when they hold no wildcard) and
// every server, each once.
func targetNames(regs []domain.Registration) []name {
	out := []name{{"all", fmt.Sprintf("every server (%d)", len(regs))}}
	groups := map[string][]string{}
	for _, r := range regs {
		for _, b := range r.Bindings {
			g := strings.TrimSuffix(b, ".#")
			if g == "all" || g == r.Server || strings.ContainsAny(g, "*#") || g == "" {
				continue
			}
			if !slices.Contains(groups[g], r.Server) {
				groups[g] = append(groups[g], r.Server)
			}
		}
	}
	for _, g := range sortedKeys(groups) {
		out = append(out, name{g, "group: " + strings.Join(groups[g], ", ")})
	}
	for _, r := range regs {
		if _, isGroup := groups[r.Server]; !isGroup {
			out = append(out, name{r.Server, "server on " + r.Host})
		}
	}
	return out
}

// commandNames are the commands of the servers target reaches, or of
// every server when it reaches none.
func commandNames(regs []domain.Registration, target string) []name {
	by := map[string][]string{}
	collect := func(all bool) {
		for _, r := range regs {
			if all || reaches(r.Bindings, target) {
				for _, c := range r.Commands {
					by[c] = append(by[c], r.Server)
				}
			}
		}
	}
	if collect(false); len(by) == 0 {
		collect(true)
	}
	var out []name
	for _, c := range sortedKeys(by) {
		out = append(out, name{c, "on " + strings.Join(by[c], ", ")})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggest returns the names close to word: a few typing mistakes away
// (one for a word of up to 5 bytes, two up to 10, three beyond), or
// starting with it; the closest first, at most three.
func suggest(word string, names []name) []string {
	if word == "" {
		return nil
	}
	limit := 1
	if len(word) > 5 {
		limit = 2
	}
	if len(word) > 10 {
		limit = 3
	}
	type scored struct {
		word string
		d    int
	}
	var found []scored
	for _, n := range names {
		if n.word == word {
			return nil // it is known: nothing to suggest
		}
		d := editDistance(word, n.word)
		if d > limit && !(len(word) >= 3 && strings.HasPrefix(n.word, word)) {
			continue
		}
		if !slices.ContainsFunc(found, func(s scored) bool { return s.word == n.word }) {
			found = append(found, scored{n.word, d})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int { return a.d - b.d })
	var out []string
	for _, f := range found[:min(3, len(found))] {
		out = append(out, f.word)
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and swaps of neighbours that
// turn one into the other.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// didYouMean is "; did you mean a or b?" for the names close to word, or "".
func didYouMean(word string, names []name) string {
	s := suggest(word, names)
	if len(s) == 0 {
		return ""
	}
	return "; did you mean " + strings.Join(s, " or ") + "?"
}

// hintTarget adds to an error saying that nothing matched target the known
// targets close to it, from the fleet register; other errors, and any
// error when the register cannot be read, are returned as they are.
func hintTarget(ctx context.Context, c *app.Client, target string, err error) error {
	if !errors.Is(err, ports.ErrNoRoute) {
		return err
	}
	regs, rerr := readFleet(ctx, c.Census)
	if rerr != nil {
		return err
	}
	if hint := didYouMean(target, targetNames(regs)); hint != "" {
		return &hintedError{err: err, hint: hint}
	}
	return err
}

// hintedError is err with a suggestion after its message.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() + e.hint }
func (e *hintedError) Unwrap() error { return e.err }

// commandHinter adds to an unknown_command reply the commands of that
// server close to the one asked for, from the fleet register, read once
// per call and only when such a reply comes.
type commandHinter struct {
	ctx  context.Context
	c    *app.Client
	regs []domain.Registration
	read bool
}

func (h *commandHinter) hint(r domain.Reply, command string) domain.Reply {
	if r.Code != domain.CodeUnknownCommand {
		return r
	}
	if !h.read {
		h.read = true
		h.regs, _ = readFleet(h.ctx, h.c.Census)
	}
	for _, reg := range h.regs {
		if reg.Server == r.Server {
			var names []name
			for _, c := range reg.Commands {
				names = append(names, name{word: c})
			}
			r.Error += didYouMean(command, names)
		}
	}
	return r
}
