package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxCommandName is the longest command name accepted, in bytes.
const MaxCommandName = 64

// ErrBadCommand is wrapped by every error from ParseCommand and Command.Validate.
var ErrBadCommand = errors.New("bad command")

// Command is a request to run one named function on a server.
// Name selects the handler; Args is passed to it verbatim.
type Command struct {
	Name string
	Args string
}

// String renders the command in the classic text form "name|args".
func (c Command) String() string {
	if c.Args == "" {
		return c.Name
	}
	return c.Name + "|" + c.Args
}

// Validate reports whether c has a well-formed name and valid UTF-8 args.
// A name starts with an ASCII letter and continues with letters, digits, '_', '-'
// or '.', at most MaxCommandName bytes.
func (c Command) Validate() error {
	if err := ValidateCommandName(c.Name); err != nil {
		return err
	}
	if !utf8.ValidString(c.Args) {
		return fmt.Errorf("%w: args of %q are not valid UTF-8", ErrBadCommand, c.Name)
	}
	return nil
}

// ValidateCommandName reports whether name is a well-formed command name.
func ValidateCommandName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty command name (want name|args, e.g. echo|hello)", ErrBadCommand)
	case len(name) > MaxCommandName:
		return fmt.Errorf("%w: command name is %d bytes, at most %d allowed", ErrBadCommand, len(name), MaxCommandName)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		letter := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("%w: command name %q must start with a letter", ErrBadCommand, name)
		}
		if !letter && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '-' && ch != '.' {
			return fmt.Errorf("%w: command name %q has %q; use letters, digits, '_', '-' or '.'", ErrBadCommand, name, rune(ch))
		}
	}
	return nil
}

// ParseCommand parses the classic text form "name|args" ("echo|hello world!",
// "fib|30") or the shell-like form "name arg ..." ("fib 30"). In the first form
// everything after the first '|' is the args, kept verbatim; in the second,
// everything after the first run of spaces. Leading and trailing spaces around
// the whole input and around the name are ignored.
func ParseCommand(s string) (Command, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Command{}, fmt.Errorf("%w: empty input (want name|args, e.g. echo|hello)", ErrBadCommand)
	}
	var c Command
	if i := strings.IndexByte(s, '|'); i >= 0 {
		c = Command{Name: strings.TrimSpace(s[:i]), Args: s[i+1:]}
	} else if i := strings.IndexAny(s, " \t"); i >= 0 {
		c = Command{Name: s[:i], Args: strings.TrimLeft(s[i:], " \t")}
	} else {
		c = Command{Name: s}
	}
	if err := c.Validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}
