#!/bin/sh
# version.sh prints topicrpc's package version: app.Version (app/server.go,
# the one version the programs report), followed by +git<commit time>.<commit>
# unless HEAD is tagged v<app.Version>, so that every build of a commit has
# its own version, ordered by commit time, after the release it builds on.
set -eu
cd "$(dirname "$0")/.."
version="$(sed -n 's/^const Version = "\(.*\)"$/\1/p' app/server.go)"
if [ -z "$version" ]; then
	echo "version.sh: no const Version in app/server.go" >&2
	exit 1
fi
if ! commit="$(git rev-parse --short=12 HEAD 2>/dev/null)"; then
	echo "$version" # not a git checkout: the release as it is
	exit 0
fi
if [ "$(git tag --points-at HEAD 2>/dev/null | grep -Fx "v$version" || true)" ]; then
	echo "$version"
	exit 0
fi
echo "$version+git$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd HEAD).$commit"
