package app

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/topicrpc/topicrpc/domain"
)

// ParsePolicy reads a policy file (YAML) into a domain.Policy:
//
//	groups:                      # optional: names for sets of callers
//	  ops: [alice, bob]
//	rules:                       # tried in order; the first that matches decides
//	  - allow: ["@ops"]          # allow or deny: the callers (NAME, @GROUP, @fleet-key, *)
//	    commands: ["*"]          # globs; absent: every command
//	    targets: ["#"]           # topic patterns; absent: every target
//	  - allow: [carol]
//	    commands: [fib, echo]
//	    targets: ["group1.#"]
//	    args: '[0-9]{1,2}'       # a regular expression matching the whole args
//	  - deny: ["*"]              # (a request no rule matches is denied anyway)
//
// Every problem — an unknown key, a rule with both or neither of allow and
// deny, a bad glob, topic pattern, regular expression or name — is one line
// naming the line of the file.
func ParsePolicy(data []byte) (*domain.Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, oneLine(err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty policy: want a rules list (an empty list denies everything)")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with groups and rules", root.Line)
	}
	var groups map[string][]string
	var rules []domain.Rule
	sawRules := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var err error
		switch k.Value {
		case "groups":
			groups, err = parseGroups(v)
		case "rules":
			sawRules = true
			rules, err = parseRules(v)
		default:
			err = fmt.Errorf("line %d: unknown key %q (want groups or rules)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if !sawRules {
		return nil, fmt.Errorf("line %d: no rules key (an empty list, rules: [], denies everything)", root.Line)
	}
	p, err := domain.NewPolicy(groups, rules)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func parseGroups(n *yaml.Node) (map[string][]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: groups: want a mapping of group names to lists of callers", n.Line)
	}
	groups := make(map[string][]string)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		members, err := stringList(v, "group "+k.Value)
		if err != nil {
			return nil, err
		}
		if _, dup := groups[k.Value]; dup {
			return nil, fmt.Errorf("line %d: group %s defined twice", k.Line, k.Value)
		}
		groups[k.Value] = members
		if _, err := domain.NewPolicy(map[string][]string{k.Value: members}, nil); err != nil {
			return nil, fmt.Errorf("line %d: %v", k.Line, err)
		}
	}
	return groups, nil
}

func parseRules(n *yaml.Node) ([]domain.Rule, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: rules: want a list of rules", n.Line)
	}
	rules := make([]domain.Rule, 0, len(n.Content))
	for _, rn := range n.Content {
		if rn.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: a rule is a mapping (allow or deny, commands, targets, args)", rn.Line)
		}
		r := domain.Rule{Line: rn.Line}
		decided := false
		for i := 0; i+1 < len(rn.Content); i += 2 {
			k, v := rn.Content[i], rn.Content[i+1]
			var err error
			switch k.Value {
			case "allow", "deny":
				if decided {
					return nil, fmt.Errorf("line %d: a rule has one of allow and deny, not both", k.Line)
				}
				decided, r.Allow = true, k.Value == "allow"
				r.Callers, err = stringList(v, k.Value)
			case "commands":
				r.Commands, err = stringList(v, "commands")
			case "targets":
				r.Targets, err = stringList(v, "targets")
			case "args":
				if v.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: args: want one regular expression", v.Line)
				}
				if r.Args, err = domain.CompileArgs(v.Value); err != nil {
					err = fmt.Errorf("line %d: %v", v.Line, err)
				}
			default:
				err = fmt.Errorf("line %d: unknown key %q in a rule (want allow or deny, commands, targets, args)", k.Line, k.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if !decided {
			return nil, fmt.Errorf("line %d: a rule needs allow or deny: the callers it applies to", rn.Line)
		}
		// Each rule is checked here, so that its error names its own line.
		if _, err := domain.NewPolicy(nil, []domain.Rule{withoutGroups(r)}); err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// withoutGroups is r with its @group callers left out, for checking r
// alone (the groups are checked with the whole policy).
func withoutGroups(r domain.Rule) domain.Rule {
	var callers []string
	for _, c := range r.Callers {
		if !strings.HasPrefix(c, "@") || c == domain.FleetKeyHolders {
			callers = append(callers, c)
		}
	}
	if len(callers) == 0 && len(r.Callers) > 0 {
		callers = []string{"*"}
	}
	r.Callers = callers
	return r
}

// stringList reads a list of strings, or one string as a list of one.
func stringList(n *yaml.Node, what string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: %s: want a list of strings", e.Line, what)
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: %s: want a string or a list of strings", n.Line, what)
}

// oneLine keeps the first line of a YAML error.
func oneLine(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(strings.TrimPrefix(msg, "yaml: "))
}
