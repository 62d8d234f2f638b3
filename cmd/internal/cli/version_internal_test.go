package cli

import (
	"runtime/debug"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "3f585c0a1b2c3d4e5f60718293a4b5c6d7e8f901"},
		{Key: "vcs.time", Value: "2026-11-29T18:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name   string
		bi     *debug.BuildInfo
		commit string
		built  string
		want   string
	}{
		{"stamped", stamped, "", "2026-11-30T08:00:00Z",
			"0.2.0 (commit 3f585c0a1b2c, modified, committed 2026-11-29T18:00:00Z, built 2026-11-30T08:00:00Z; go1.26.8 linux/amd64)"},
		{"stamp over -ldflags", stamped, "0123456789abcdef", "", "0.2.0 (commit 3f585c0a1b2c, modified, committed 2026-11-29T18:00:00Z; go1.26.8 linux/amd64)"},
		{"commit from -ldflags", &debug.BuildInfo{}, "0123456789abcdef", "2026-11-30T08:00:00Z",
			"0.2.0 (commit 0123456789ab, built 2026-11-30T08:00:00Z; go1.26.8 linux/amd64)"},
		{"go run", &debug.BuildInfo{}, "", "", "0.2.0 (commit unknown; go1.26.8 linux/amd64)"},
		{"no build info", nil, "", "", "0.2.0 (commit unknown; go1.26.8 linux/amd64)"},
	}
	for _, tc := range tests {
		if got := describeBuild("0.2.0", tc.bi, tc.commit, tc.built, "go1.26.8", "linux/amd64"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
