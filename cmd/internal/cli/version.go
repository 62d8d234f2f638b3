package cli

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/topicrpc/topicrpc/app"
)

// buildDate is when the binary was built, and buildCommit the commit it
// was built from, when the build says so (make build does):
//
//	go build -ldflags "-X github.com/topicrpc/topicrpc/cmd/internal/cli.buildDate=$(date -u +%FT%TZ)
//	  -X github.com/topicrpc/topicrpc/cmd/internal/cli.buildCommit=$(git rev-parse HEAD)"
//
// The build's VCS stamp, when there is one, tells the commit too (go build
// leaves it out with -buildvcs=false, and in some git worktrees).
var buildDate, buildCommit string

// versionString is what --version and the version command print after the
// program's name: app.Version, then the commit the binary was built from,
// its date and whether the tree had changes (from the build's VCS stamp,
// absent with go run, go test, or -buildvcs=false), and the Go version.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return describeBuild(app.Version, bi, buildCommit, buildDate, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// describeBuild formats a version line from build information, which may be nil.
func describeBuild(version string, bi *debug.BuildInfo, commit, built, goVersion, platform string) string {
	revision, date := commit, ""
	var modified bool
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	b.WriteString(version)
	b.WriteString(" (commit ")
	switch {
	case revision == "":
		b.WriteString("unknown")
	case len(revision) > 12:
		b.WriteString(revision[:12])
	default:
		b.WriteString(revision)
	}
	if modified {
		b.WriteString(", modified")
	}
	if date != "" {
		b.WriteString(", committed " + date)
	}
	if built != "" {
		b.WriteString(", built " + built)
	}
	b.WriteString("; " + goVersion + " " + platform + ")")
	return b.String()
}
