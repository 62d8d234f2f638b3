package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	koanfyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// DaemonConfigFile is the file topicrpcd reads when --config is not given.
const DaemonConfigFile = "/etc/topicrpc/topicrpcd.yaml"

// clientConfigFile is where topicrpc's config file lives under the user's
// configuration directory ($XDG_CONFIG_HOME, else ~/.config).
const clientConfigFile = "topicrpc/config.yaml"

// Flags that are about the config file itself, never keys in it.
const (
	configFlag      = "config"
	printConfigFlag = "print-config"
)

// configFile is a program's YAML config file: its keys are the long names
// of the program's flags (any flag of any of its commands, so one file
// serves every command), a list flag takes a YAML list. Values apply to the
// flags that neither the command line nor an environment variable set:
// flags > environment > file > defaults. It is used by one invocation, from
// one goroutine.
type configFile struct {
	// fallback is the file read when --config is not given ("" for none);
	// it may be missing.
	fallback string
	// known holds every flag name of the program, for unknown keys.
	known []name
	// path is the file that was read, when one was.
	path string
	// set holds the flags whose value came from the file, with their line.
	set map[string]int
	// printConfig is --print-config.
	printConfig bool
}

// configFlags adds --config and --print-config to f; fallback is the
// default file, "" for none.
func (c *configFile) flags(f *pflag.FlagSet, fallback string) {
	c.fallback = fallback
	def := "none"
	if fallback != "" {
		def = fallback + ", when it exists"
	}
	f.String(configFlag, "", "read flags from this YAML file, keys are the long flag names (flags and environment variables win over it); default "+def)
	f.BoolVar(&c.printConfig, printConfigFlag, false, "print the effective configuration as YAML, each value with where it came from (secrets redacted), and exit")
}

// clientConfigPath is topicrpc's default config file: under
// $XDG_CONFIG_HOME, else ~/.config; "" when neither variable is set.
func clientConfigPath(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, clientConfigFile)
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", clientConfigFile)
	}
	return ""
}

// prepare learns the flag names of root's commands and lets every command
// taking positional arguments run without them under --print-config.
// Call it once the command tree is complete.
func (c *configFile) prepare(root *cobra.Command) {
	seen := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{cmd.PersistentFlags(), cmd.LocalFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if !seen[f.Name] && configurable(f.Name) {
					seen[f.Name] = true
					c.known = append(c.known, name{word: f.Name})
				}
			})
		}
		if args := cmd.Args; args != nil {
			cmd.Args = func(cmd *cobra.Command, a []string) error {
				if c.printConfig {
					return nil
				}
				return args(cmd, a)
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// configurable says whether the flag named name may be a key.
func configurable(name string) bool {
	switch name {
	case "help", "version", configFlag, printConfigFlag:
		return false
	}
	return true
}

// apply reads the config file (--config, else the default when it exists)
// and sets cmd's flags that the command line and the environment left
// alone. Mistakes are usage errors naming the file, the line and the key.
func (c *configFile) apply(cmd *cobra.Command, env *envFlags) error {
	c.set = map[string]int{}
	path, explicit := c.fallback, false
	if f := cmd.Flags().Lookup(configFlag); f != nil && f.Value.String() != "" {
		path, explicit = f.Value.String(), true
	}
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		src := env.source(configFlag)
		if !strings.HasPrefix(src, "-") {
			src = "$" + src
		}
		return usageError("%s: %v", src, err)
	}
	c.path = path
	entries, err := parseConfig(data)
	if err != nil {
		return usageError("config file %s: %v", path, err)
	}
	for _, e := range entries {
		if err := c.applyEntry(cmd, env, e); err != nil {
			return usageError("config file %s: line %d: %v", path, e.line, err)
		}
	}
	return nil
}

// applyEntry checks one key and sets its flag when cmd has it and nothing
// of higher precedence set it. A key another command of the program takes
// is left alone.
func (c *configFile) applyEntry(cmd *cobra.Command, env *envFlags, e configEntry) error {
	if e.key == configFlag || e.key == printConfigFlag {
		return fmt.Errorf("%s: not a key of a config file (it is a command-line flag only)", e.key)
	}
	if !slices.ContainsFunc(c.known, func(n name) bool { return n.word == e.key }) {
		return fmt.Errorf("unknown key %q%s", e.key, didYouMean(e.key, c.known))
	}
	f := cmd.Flags().Lookup(e.key)
	if f == nil || e.value == nil {
		return nil // another command's flag, or an empty value: the default stays
	}
	if f.Changed {
		return nil
	}
	if _, fromEnv := env.set[f.Name]; fromEnv {
		return nil
	}
	if err := setFlag(f, e.value); err != nil {
		return fmt.Errorf("%s: want %s, got %s", e.key, flagKind(f), describeValue(e.value))
	}
	c.set[f.Name] = e.line
	return nil
}

// setFlag sets f from a YAML value: a scalar, or a list for a list flag (a
// single scalar is a list of one).
func setFlag(f *pflag.Flag, v any) error {
	sv, isList := f.Value.(pflag.SliceValue)
	switch v := v.(type) {
	case []any:
		if !isList {
			return errors.New("got a list")
		}
		items := make([]string, 0, len(v))
		for _, item := range v {
			s, err := scalar(item)
			if err != nil {
				return fmt.Errorf("item %d: %w", len(items)+1, err)
			}
			items = append(items, s)
		}
		return sv.Replace(items)
	default:
		s, err := scalar(v)
		if err != nil {
			return err
		}
		if isList {
			return sv.Replace([]string{s})
		}
		return f.Value.Set(s)
	}
}

// scalar is the text of a YAML scalar as a flag would take it.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case nil:
		return "", nil
	case []any:
		return "", errors.New("got a list")
	case map[string]any:
		return "", errors.New("got a mapping")
	}
	return fmt.Sprint(v), nil
}

// describeValue names a YAML value in an error message.
func describeValue(v any) string {
	switch v := v.(type) {
	case []any:
		for _, item := range v {
			if _, err := scalar(item); err != nil {
				return "a list holding " + describeValue(item)
			}
		}
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	s, _ := scalar(v)
	return strconv.Quote(s)
}

// flagKind names what a flag takes, for error messages.
func flagKind(f *pflag.Flag) string {
	switch t := f.Value.Type(); t {
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "duration":
		return "a duration like 10s"
	case "string":
		return "a string"
	case "stringArray", "stringSlice":
		return "a list of strings"
	default:
		return "a " + t
	}
}

// configEntry is one key of a config file with its value and line.
type configEntry struct {
	key   string
	value any
	line  int
}

// parseConfig reads a YAML config file into its entries, in the order of
// their lines. koanf loads the values (a nested mapping becomes dotted
// keys, which no flag has); the YAML node tree gives each key's line. An
// empty file has no entries.
func parseConfig(data []byte) ([]configEntry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of flag names to values, like \"name: q1\"", top.Line)
	}
	lines := map[string]int{}
	keyLines(top, "", lines)
	k := koanf.New(".")
	if err := k.Load(rawbytes.Provider(data), koanfyaml.Parser()); err != nil {
		// One line: "line 2: mapping key "name" already defined at line 1".
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")
		return nil, errors.New(strings.Join(strings.Fields(msg), " "))
	}
	all := k.All()
	entries := make([]configEntry, 0, len(all))
	for key, v := range all {
		entries = append(entries, configEntry{key: key, value: v, line: lines[key]})
	}
	slices.SortFunc(entries, func(a, b configEntry) int {
		if a.line != b.line {
			return a.line - b.line
		}
		return strings.Compare(a.key, b.key)
	})
	return entries, nil
}

// keyLines records the line of every key of mapping m (nested keys
// joined with dots, as koanf flattens them).
func keyLines(m *yaml.Node, prefix string, lines map[string]int) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		lines[key] = k.Line
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			keyLines(v, key+".", lines)
		}
	}
}
