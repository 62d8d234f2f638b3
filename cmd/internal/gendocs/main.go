// Command gendocs writes the manual pages and shell completion scripts of
// topicrpc and topicrpcd under a directory, for the Debian package:
//
//	go run ./cmd/internal/gendocs DIR
//
// The pages are dated $SOURCE_DATE_EPOCH when it is set (reproducible
// builds), else today.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/topicrpc/topicrpc/cmd/internal/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs DIR")
		os.Exit(64)
	}
	date := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gendocs: $SOURCE_DATE_EPOCH %q: want seconds since 1970\n", s)
			os.Exit(64)
		}
		date = time.Unix(sec, 0).UTC()
	}
	if err := cli.WriteDocs(os.Args[1], date); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
