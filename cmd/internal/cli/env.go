package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix starts the name of every flag's environment variable.
const envPrefix = "TOPICRPC_"

// envName is the environment variable of the flag named name:
// --management-url is TOPICRPC_MANAGEMENT_URL.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// envFlags gives every flag of root and its subcommands an environment
// variable, named by envName and shown in --help. A flag given on the
// command line wins over its variable. It runs before the command line is
// parsed; fromEnv applies the variables after.
type envFlags struct {
	vars map[*pflag.Flag]string
	// set holds the flags whose value came from their variable, by name.
	set map[string]string
}

// bindEnv annotates the flags of root and every command under it.
func bindEnv(root *cobra.Command) *envFlags {
	e := &envFlags{vars: map[*pflag.Flag]string{}, set: map[string]string{}}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.LocalFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if _, done := e.vars[f]; done || f.Name == "help" || f.Name == "version" {
					return
				}
				v := envName(f.Name)
				e.vars[f] = v
				f.Usage += " [$" + v + "]"
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return e
}

// apply sets each flag of cmd that the command line left alone from its
// variable, when getenv has one. A list flag (--bind) takes a
// comma-separated list. A value its flag refuses is a usage error naming
// the variable.
func (e *envFlags) apply(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		v, ok := e.vars[f]
		if !ok || f.Changed || err != nil {
			return
		}
		val := getenv(v)
		if val == "" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			var items []string
			for _, s := range strings.Split(val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			err = sv.Replace(items)
		} else {
			err = f.Value.Set(val)
		}
		if err != nil {
			err = usageError("$%s: %v", v, err)
			return
		}
		e.set[f.Name] = v
	})
	return err
}

// source names where a flag's value came from, for error messages: its
// variable when it came from there, else the flag.
func (e *envFlags) source(name string) string {
	if e != nil {
		if v, ok := e.set[name]; ok {
			return v
		}
	}
	return "--" + name
}
