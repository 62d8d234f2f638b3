// Command report turns the output of make bench (go test -bench, in the Go
// benchmark format benchstat reads) into the tables of docs/BENCHMARKS.md:
// for each workload the baseline's and topicrpc's medians, their ratio, the
// target and whether it is met. It prints the tables and replaces the part
// of the file between its markers, keeping the rest as written.
//
//	go run ./bench/cmd/report < bench.out
//	go run ./bench/cmd/report -in bench.out -out ''   # print only
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	in := flag.String("in", "-", "benchmark output to read; - for stdin")
	out := flag.String("out", "docs/BENCHMARKS.md", "report to write; empty to print only")
	flag.Parse()
	if err := run(*in, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, out string, stdout io.Writer) error {
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	res, err := parse(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	if len(res.order) == 0 {
		return fmt.Errorf("no benchmark results in %s", in)
	}
	var gen bytes.Buffer
	render(&gen, res, time.Now())
	if _, err := stdout.Write(gen.Bytes()); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	old, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(out, []byte(splice(string(old), gen.String())), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: wrote %s\n", out)
	return nil
}

// splice puts gen in place of the generated part of doc, or after it when
// doc has none (a new file gets a title).
func splice(doc, gen string) string {
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	switch {
	case i >= 0 && j > i:
		return doc[:i] + gen + strings.TrimPrefix(doc[j+len(endMarker):], "\n")
	case doc == "":
		return "# Benchmarks\n\n`make bench` writes the tables below.\n\n" + gen
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + gen
}
