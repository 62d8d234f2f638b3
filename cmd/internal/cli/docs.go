package cli

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/topicrpc/topicrpc/app"
)

// WriteDocs writes what a package installs besides the programs under dir:
// the manual pages of both programs and of each topicrpc command,
// gzipped, in dir/man (topicrpc.1.gz, topicrpc-call.1.gz, …,
// topicrpcd.1.gz), and their shell completion scripts in dir/completions
// (bash: topicrpc, zsh: _topicrpc, fish: topicrpc.fish; the same for
// topicrpcd). The pages are dated date. The text does not depend on who
// runs it: the client's default config file is written ~/.config/….
func WriteDocs(dir string, date time.Time) error {
	stdio := IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard,
		Getenv: func(k string) string {
			if k == "HOME" {
				return "~"
			}
			return ""
		}}
	man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("write docs: %w", err)
		}
	}
	for _, root := range []*cobra.Command{clientCommand(stdio), serverCommand(stdio)} {
		root.DisableAutoGenTag = true
		if err := writeManPages(root, man, date); err != nil {
			return fmt.Errorf("write the manual of %s: %w", root.Name(), err)
		}
		if err := writeCompletions(root, comp); err != nil {
			return fmt.Errorf("write the completions of %s: %w", root.Name(), err)
		}
	}
	return nil
}

// writeManPages writes a gzipped page for root and each command under it.
func writeManPages(root *cobra.Command, dir string, date time.Time) error {
	var walk func(*cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root || c.IsAdditionalHelpTopicCommand() {
			return nil
		}
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		c.Long = markdownEscaper.Replace(c.Long) // the man page generator reads it as Markdown
		var page bytes.Buffer
		header := &doc.GenManHeader{Section: "1", Date: &date, Source: "topicrpc " + app.Version, Manual: "topicrpc manual"}
		if err := doc.GenMan(c, header, &page); err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1.gz"
		return writeGzip(filepath.Join(dir, name), page.Bytes())
	}
	return walk(root)
}

// markdownEscaper keeps the plain text of a command's description plain
// through Markdown: "<name>.#" is not an HTML tag, "*" no emphasis.
var markdownEscaper = strings.NewReplacer(`\`, `\\`, "<", `\<`, ">", `\>`, "*", `\*`, "_", `\_`, "`", "\\`")

// writeGzip writes data gzipped to path, without a name or time in the
// header, so that the same text gives the same bytes.
func writeGzip(path string, data []byte) error {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// writeCompletions writes root's bash, zsh and fish completion scripts
// under the names those shells look for.
func writeCompletions(root *cobra.Command, dir string) error {
	name := root.Name()
	for file, gen := range map[string]func(io.Writer) error{
		name:           func(w io.Writer) error { return root.GenBashCompletionV2(w, true) },
		"_" + name:     root.GenZshCompletion,
		name + ".fish": func(w io.Writer) error { return root.GenFishCompletion(w, true) },
	} {
		var b bytes.Buffer
		if err := gen(&b); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, file), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
