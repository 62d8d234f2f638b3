#!/usr/bin/env bash
# copyright.sh writes the Debian package's copyright file (make package):
# the project's own notice, then the licence of every module linked into
# topicrpc and topicrpcd, and of the Go standard library, since the
# programs are statically linked and those licences ask that their notices
# go with the binaries.
#
#   scripts/copyright.sh OUT
#
# It fails, naming the module, when a linked module has no licence file.
set -euo pipefail

out="${1:?usage: copyright.sh OUT}"
go="${GO:-go}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

modules="$("$go" list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}' \
	./cmd/topicrpc ./cmd/topicrpcd | sort -u)"

# licences prints the licence files of directory $1 (LICENSE, LICENCE,
# COPYING, NOTICE, with any suffix), one path a line.
licences() {
	find "$1" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' -o -iname 'notice*' \) | sort
}

{
	cat <<-'HEAD'
		Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
		Upstream-Name: topicrpc
		Source: https://github.com/topicrpc/topicrpc

		Files: *
		Copyright: the topicrpc authors
		License: none
		 The topicrpc project has not chosen a licence for its own code yet: none is
		 granted here. The programs are statically linked with the Go standard library
		 and the Go modules below, each under its own licence, given in full.
	HEAD
	goroot="$("$go" env GOROOT)"
	echo
	echo "Files: (linked into the programs) Go standard library $("$go" env GOVERSION)"
	echo "Copyright: The Go Authors"
	echo "License: see its text below"
	sed -e 's/^$/./' -e 's/^/ /' "$goroot/LICENSE"
	while read -r path version; do
		[ -n "$path" ] || continue
		dir="$("$go" list -m -f '{{.Dir}}' "$path")"
		files="$(licences "$dir")"
		if [ -z "$files" ]; then
			echo "copyright.sh: module $path $version has no licence file in $dir" >&2
			exit 1
		fi
		echo
		echo "Files: (linked into the programs) Go module $path $version"
		echo "Copyright: see the text below"
		echo "License: see the text below"
		for f in $files; do
			echo " ${f##*/}:"
			sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /' "$f"
		done
	done <<<"$modules"
} >"$out"
