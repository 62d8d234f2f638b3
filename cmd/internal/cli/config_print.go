package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// redactedValue stands for a secret in --print-config.
const redactedValue = "xxxxx"

// printConfig writes the effective configuration of cmd to w as YAML: one
// key per flag, in the flags' order, each with a comment saying where its
// value came from (flag, $VARIABLE, file:line or default). Passwords in
// URLs and values of flags named like secrets (password, secret, token,
// key, but not a -file holding one, nor a flag whose usage says it takes
// a file) are redacted. The output is a valid
// config file.
func (c *configFile) print(w io.Writer, cmd *cobra.Command, env *envFlags) error {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	head := "effective configuration of " + cmd.CommandPath()
	switch {
	case c.path != "":
		head += "; config file " + c.path
	case c.fallback != "":
		head += "; no config file (" + c.fallback + " does not exist)"
	default:
		head += "; no config file"
	}
	doc.HeadComment = head
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !configurable(f.Name) {
			return
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: f.Name}
		val := configValue(f)
		val.LineComment = c.origin(f, env)
		doc.Content = append(doc.Content, key, val)
	})
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return enc.Close()
}

// origin says where f's value came from.
func (c *configFile) origin(f *pflag.Flag, env *envFlags) string {
	switch {
	case f.Changed:
		return "flag --" + f.Name
	case env != nil && env.set[f.Name] != "":
		return "$" + env.set[f.Name]
	case c.set[f.Name] > 0:
		return fmt.Sprintf("%s:%d", c.path, c.set[f.Name])
	}
	return "default"
}

// configValue is f's value as a YAML node, redacted where secret.
func configValue(f *pflag.Flag) *yaml.Node {
	secret := secretFlag(f.Name) && !strings.Contains(strings.ToLower(f.Usage), "file")
	if sv, ok := f.Value.(pflag.SliceValue); ok && (f.Value.Type() != "url" || len(sv.GetSlice()) > 1) { // one broker: a scalar
		list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range sv.GetSlice() {
			list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: redactValue(s, secret)})
		}
		return list
	}
	tag := "!!str"
	switch f.Value.Type() {
	case "bool":
		tag = "!!bool"
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		tag = "!!int"
	case "float64", "float32":
		tag = "!!float"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: redactValue(f.Value.String(), secret)}
}

// secretFlag says whether a flag's value is a secret itself (not a file
// or path naming where one is).
func secretFlag(name string) bool {
	if strings.HasSuffix(name, "-file") || strings.HasSuffix(name, "-path") || strings.HasSuffix(name, "-dir") {
		return false
	}
	for _, w := range strings.Split(name, "-") {
		switch w {
		case "password", "passwd", "secret", "token", "key", "credentials":
			return true
		}
	}
	return false
}

// redactValue hides a secret value whole, and the password of a URL.
func redactValue(v string, secret bool) string {
	if secret && v != "" {
		return redactedValue
	}
	if strings.Contains(v, "://") {
		return redact(v)
	}
	return v
}
