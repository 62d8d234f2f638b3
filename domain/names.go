package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The naming rules, one place for the CLIs, app and every transport. Each
// error wraps ErrBadName (or ErrBadKey, for routing keys and binding
// patterns) and names the rule that was broken.
//
//	server name   one topic word: 1-255 bytes of UTF-8, no '.', '*', '#' or
//	              space, so that "<name>.#" reaches it and only it
//	work group    the same rule as a server name (a group is one word)
//	binding       a topic pattern: at most 255 bytes (ValidateBinding)
//	target        a routing key: 1-255 bytes (ValidateTarget)
//	namespace     1-255 bytes of UTF-8, no '*', '#' or space, not amq.*
//	              (RabbitMQ keeps those names); dots allowed
//	queue name    the full name with its prefix: 1-255 bytes of UTF-8, not
//	              amq.* (ValidateQueueName)

// ErrBadName is wrapped by every error of ValidateServerName,
// ValidateGroup, ValidateNamespace and ValidateQueueName.
var ErrBadName = errors.New("bad name")

// MaxNameLength is the longest name AMQP carries (a short string), in bytes.
const MaxNameLength = 255

// ValidateServerName reports whether name can name a server.
func ValidateServerName(name string) error { return validateWord("server name", name) }

// ValidateGroup reports whether name can name a work group (call --any).
func ValidateGroup(name string) error { return validateWord("work group", name) }

// validateWord checks the one-word rule of server names and groups.
func validateWord(what, name string) error {
	if err := validateText(what, name); err != nil {
		return err
	}
	if i := strings.IndexAny(name, ".*# "); i >= 0 {
		return fmt.Errorf("%w: %s %q has %q: want one word, without '.', '*', '#' or spaces",
			ErrBadName, what, name, name[i])
	}
	return nil
}

// ValidateNamespace reports whether ns can name a fleet's namespace: the
// exchange's name and its queues' prefix.
func ValidateNamespace(ns string) error {
	if err := validateText("namespace", ns); err != nil {
		return err
	}
	if i := strings.IndexAny(ns, "*# "); i >= 0 {
		return fmt.Errorf("%w: namespace %q has %q: want a name like topicrpc, without '*', '#' or spaces",
			ErrBadName, ns, ns[i])
	}
	return notReserved("namespace", ns)
}

// ValidateQueueName reports whether prefix+name can name a queue.
func ValidateQueueName(prefix, name string) error {
	q := prefix + name
	if name == "" {
		return fmt.Errorf("%w: empty queue name", ErrBadName)
	}
	if len(q) > MaxNameLength {
		return fmt.Errorf("%w: queue name %.40q… is %d bytes with its prefix %q, at most %d allowed",
			ErrBadName, q, len(q), prefix, MaxNameLength)
	}
	if err := validateText("queue name", q); err != nil {
		return err
	}
	return notReserved("queue name", q)
}

// ValidateTarget reports whether target can be called: a non-empty routing
// key.
func ValidateTarget(target string) error {
	if target == "" {
		return fmt.Errorf("%w: empty target (want all, a group or a server name)", ErrBadKey)
	}
	return ValidateKey(target)
}

// validateText checks what every name needs: 1 to MaxNameLength bytes of
// valid UTF-8.
func validateText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrBadName, what)
	case len(s) > MaxNameLength:
		return fmt.Errorf("%w: %s is %d bytes, at most %d allowed", ErrBadName, what, len(s), MaxNameLength)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrBadName, what, s)
	}
	return nil
}

// notReserved refuses the names RabbitMQ keeps for itself.
func notReserved(what, s string) error {
	if strings.HasPrefix(s, "amq.") {
		return fmt.Errorf("%w: %s %q starts with amq., which RabbitMQ reserves", ErrBadName, what, s)
	}
	return nil
}
