package domain

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// A Policy says who may run which commands on which targets. It is a list
// of rules, tried in order: the first whose callers, commands, targets and
// arguments all match the request decides (allow or deny); when none does,
// the request is denied. First match wins, so a narrow deny goes before a
// broad allow, and the order in the file is the order of decision.
//
// Who a rule names:
//
//	NAME         a caller proven to be NAME: its request is signed with its
//	             own key, whose public key the server trusts (ProofKey)
//	@GROUP       a proven caller whose name is in the policy's group GROUP
//	@fleet-key   any request signed with the fleet key (its name is only
//	             claimed, so it never matches NAME or @GROUP)
//	*            every request that got past the signature check, proven or
//	             not (on a server without keys: everyone)
//
// Commands are globs (path.Match: '*', '?', '[a-z]'), targets topic
// patterns (Match: '*' one word, '#' zero or more), args a regular
// expression that must match the whole of Command.Args. A Policy is
// immutable once made: safe for concurrent use.
type Policy struct {
	groups map[string][]string
	rules  []Rule
}

// FleetKeyHolders is the caller entry of a rule matching every request
// signed with the fleet key.
const FleetKeyHolders = "@fleet-key"

// Rule is one rule of a Policy.
type Rule struct {
	// Line is where the rule starts in its file (0 when not from a file).
	Line int
	// Allow is the rule's decision.
	Allow bool
	// Callers are the names, @groups, @fleet-key or * the rule applies to.
	Callers []string
	// Commands are command name globs; empty matches every command.
	Commands []string
	// Targets are topic patterns matched against Request.Target; empty
	// matches every target.
	Targets []string
	// Args, when set, must match the whole of Command.Args.
	Args *regexp.Regexp
}

// CompileArgs compiles an args pattern anchored at both ends.
func CompileArgs(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("args %q: %w", expr, err)
	}
	return re, nil
}

// NewPolicy checks rules and groups and returns the policy. Errors name
// the rule's line (or its index) and the bad entry.
func NewPolicy(groups map[string][]string, rules []Rule) (*Policy, error) {
	for g, members := range groups {
		if "@"+g == FleetKeyHolders {
			return nil, fmt.Errorf("group %q: reserved (%s means every fleet-key holder)", g, FleetKeyHolders)
		}
		if err := ValidateIdentityName(g); err != nil {
			return nil, fmt.Errorf("group %q: %w", g, err)
		}
		for _, m := range members {
			if err := ValidateIdentityName(m); err != nil {
				return nil, fmt.Errorf("group %s: %w", g, err)
			}
		}
	}
	for i, r := range rules {
		where := fmt.Sprintf("rule %d", i+1)
		if r.Line > 0 {
			where = fmt.Sprintf("line %d", r.Line)
		}
		if len(r.Callers) == 0 {
			return nil, fmt.Errorf("%s: a rule names at least one caller (or *)", where)
		}
		for _, c := range r.Callers {
			switch {
			case c == "*" || c == FleetKeyHolders:
			case strings.HasPrefix(c, "@"):
				if _, ok := groups[c[1:]]; !ok {
					return nil, fmt.Errorf("%s: caller %s: no such group", where, c)
				}
			default:
				if err := ValidateIdentityName(c); err != nil {
					return nil, fmt.Errorf("%s: caller: %w", where, err)
				}
			}
		}
		for _, c := range r.Commands {
			if _, err := path.Match(c, ""); err != nil || c == "" {
				return nil, fmt.Errorf("%s: command pattern %q: not a glob", where, c)
			}
		}
		for _, t := range r.Targets {
			if err := ValidateBinding(t); err != nil || t == "" {
				return nil, fmt.Errorf("%s: target pattern %q: not a topic pattern", where, t)
			}
		}
	}
	return &Policy{groups: groups, rules: slices.Clone(rules)}, nil
}

// Len returns how many rules p has.
func (p *Policy) Len() int { return len(p.rules) }

// Decision is what a Policy decided for a request.
type Decision struct {
	Allow bool
	// Rule is the rule that decided; nil when none matched (denied by
	// default).
	Rule *Rule
}

// Reason explains d in a few words, for the caller and the log.
func (d Decision) Reason() string {
	switch {
	case d.Rule == nil:
		return "no rule allows it"
	case d.Rule.Line > 0 && d.Allow:
		return fmt.Sprintf("allowed by the rule at line %d", d.Rule.Line)
	case d.Rule.Line > 0:
		return fmt.Sprintf("denied by the rule at line %d", d.Rule.Line)
	case d.Allow:
		return "allowed by a rule"
	}
	return "denied by a rule"
}

// Decide returns the decision for req from a caller named name, proven as
// proof says.
func (p *Policy) Decide(name string, proof Proof, req *Request) Decision {
	for i := range p.rules {
		r := &p.rules[i]
		if p.callerMatches(r, name, proof) && r.matches(req) {
			return Decision{Allow: r.Allow, Rule: r}
		}
	}
	return Decision{}
}

func (p *Policy) callerMatches(r *Rule, name string, proof Proof) bool {
	for _, c := range r.Callers {
		switch {
		case c == "*":
			return true
		case c == FleetKeyHolders:
			if proof == ProofFleetKey {
				return true
			}
		case proof != ProofKey:
		case strings.HasPrefix(c, "@"):
			if slices.Contains(p.groups[c[1:]], name) {
				return true
			}
		case c == name:
			return true
		}
	}
	return false
}

func (r *Rule) matches(req *Request) bool {
	if len(r.Commands) > 0 && !slices.ContainsFunc(r.Commands, func(g string) bool {
		ok, _ := path.Match(g, req.Command.Name)
		return ok
	}) {
		return false
	}
	if len(r.Targets) > 0 && !slices.ContainsFunc(r.Targets, func(t string) bool { return Match(t, req.Target) }) {
		return false
	}
	return r.Args == nil || r.Args.MatchString(req.Command.Args)
}
