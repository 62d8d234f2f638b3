package cli

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// packaging is the folder of the Debian package's files.
const packaging = "../../../packaging"

// unitSettings reads a systemd unit's Key=Value lines; repeated keys keep
// every value.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = append(set[k], v)
		}
	}
	return set
}

// TestPackagedUnit: the systemd unit runs topicrpcd as the user the
// package creates, with the packaged config file, restarts it on failure
// but not on a configuration mistake, stops it with SIGTERM giving it
// longer than the daemon itself takes to stop (grace + stopTimeout), and
// is hardened.
func TestPackagedUnit(t *testing.T) {
	t.Parallel()
	unit := unitSettings(t, filepath.Join(packaging, "topicrpcd.service"))
	one := func(key string) string {
		if len(unit[key]) != 1 {
			t.Errorf("%s: %q, want one value", key, unit[key])
			return ""
		}
		return unit[key][0]
	}
	sysusers, err := os.ReadFile(filepath.Join(packaging, "sysusers.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if user := one("User"); !regexp.MustCompile(`(?m)^u `+regexp.QuoteMeta(user)+` `).Match(sysusers) || user == "root" {
		t.Errorf("User=%s: not the system user sysusers.conf creates:\n%s", user, sysusers)
	}
	if got, want := one("ExecStart"), "/usr/bin/topicrpcd --config "+DaemonConfigFile; got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	if got := one("Restart"); got != "on-failure" {
		t.Errorf("Restart=%s", got)
	}
	prevent := strings.Fields(one("RestartPreventExitStatus"))
	for _, code := range []int{ExitUsage, ExitNameTaken} {
		if !slices.Contains(prevent, strconv.Itoa(code)) {
			t.Errorf("RestartPreventExitStatus=%v lacks %d", prevent, code)
		}
	}
	if got := one("KillSignal"); got != "SIGTERM" {
		t.Errorf("KillSignal=%s", got)
	}
	// The grace period of the packaged configuration, as topicrpcd reads it.
	var out bytes.Buffer
	code := RunServer(t.Context(), []string{"--print-config"}, IO{In: strings.NewReader(""), Out: &out, Err: &out,
		Getenv: func(string) string { return "" }, DefaultConfig: filepath.Join(packaging, "topicrpcd.yaml")})
	m := regexp.MustCompile(`(?m)^grace: (\S+)`).FindStringSubmatch(out.String())
	if code != 0 || m == nil {
		t.Fatalf("topicrpcd --print-config with the packaged config: exit %d:\n%s", code, out.String())
	}
	grace, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if stop <= grace+stopTimeout {
		t.Errorf("TimeoutStopSec=%s: systemd would kill topicrpcd before it stops by itself (grace %s + %s)", stop, grace, stopTimeout)
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"PrivateDevices=yes", "RestrictSUIDSGID=yes", "CapabilityBoundingSet=", "SystemCallFilter=@system-service"} {
		k, v, _ := strings.Cut(want, "=")
		if !slices.Contains(unit[k], v) {
			t.Errorf("the unit lacks %s (has %s=%q)", want, k, unit[k])
		}
	}
}

// TestPackagedConfig: the default config is valid for topicrpcd, marked
// as a conffile, not readable by everyone (it may hold the broker's
// password), and it names no key topicrpcd lacks.
func TestPackagedConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(packaging, "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type content struct {
		Src, Dst, Type string
		FileInfo       struct{ Mode os.FileMode } `yaml:"file_info"`
	}
	var pkg struct{ Contents []content }
	if err := yaml.Unmarshal(data, &pkg); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(pkg.Contents, func(c content) bool { return c.Dst == DaemonConfigFile })
	if i < 0 {
		t.Fatalf("nfpm.yaml installs nothing at %s", DaemonConfigFile)
	}
	if c := pkg.Contents[i]; c.Type != "config" || c.FileInfo.Mode&0o007 != 0 || c.Src != "packaging/topicrpcd.yaml" {
		t.Errorf("%s: type %q mode %o from %s, want a conffile (type config), not world-readable, from packaging/topicrpcd.yaml", c.Dst, c.Type, c.FileInfo.Mode, c.Src)
	}
	// Every commented-out key is one topicrpcd takes, so uncommenting it works.
	conf, err := os.ReadFile(filepath.Join(packaging, "topicrpcd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(conf), "\n") {
		if m := regexp.MustCompile(`^# ?([a-z-]+):( .*)?$`).FindStringSubmatch(line); m != nil {
			v, _, _ := strings.Cut(m[2], " #")
			b.WriteString(m[1] + ":" + v + "\n")
		}
	}
	if strings.Count(b.String(), "\n") < 5 {
		t.Fatalf("found only these commented-out keys in the packaged config:\n%s", b.String())
	}
	uncommented := filepath.Join(t.TempDir(), "all.yaml")
	if err := os.WriteFile(uncommented, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := RunServer(t.Context(), []string{"--config", uncommented, "--print-config"}, IO{In: strings.NewReader(""), Out: &out, Err: &out,
		Getenv: func(string) string { return "" }}); code != 0 {
		t.Errorf("the packaged config's commented-out keys:\n%s\n%s", b.String(), out.String())
	}
}

// TestWriteDocs: a man page for each program and each topicrpc command,
// gzipped, with every flag, the description's text as written, and the
// same text whoever generates it; completion scripts for bash, zsh and
// fish of both programs.
func TestWriteDocs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteDocs(dir, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	page := func(name string) string {
		f, err := os.Open(filepath.Join(dir, "man", name+".1.gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	client := clientCommand(IO{Getenv: func(string) string { return "" }})
	names := []string{"topicrpc", "topicrpcd"}
	for _, c := range client.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, "topicrpc-"+c.Name())
		}
	}
	for _, name := range names {
		p := page(name)
		if !strings.Contains(p, `.TH "`+strings.ToUpper(name)+`" "1" "Jan 2026"`) {
			t.Errorf("%s.1 has no title line:\n%.300s", name, p)
		}
	}
	d := page("topicrpcd")
	for _, want := range []string{`\fB--config\fP`, `\fB--name\fP`, `\fB--bind\fP`, `\fB--grace\fP`, "/etc/topicrpc/topicrpcd.yaml", "all.# and <name>"} {
		if !strings.Contains(d, want) {
			t.Errorf("topicrpcd.1 lacks %q", want)
		}
	}
	if c := page("topicrpc"); !strings.Contains(c, "~/.config/topicrpc/config.yaml") {
		t.Errorf("topicrpc.1 does not name ~/.config/topicrpc/config.yaml")
	}
	for file, want := range map[string]string{
		"topicrpc": "__start_topicrpc", "topicrpcd": "__start_topicrpcd",
		"_topicrpc": "#compdef topicrpc", "_topicrpcd": "#compdef topicrpcd",
		"topicrpc.fish": "complete -c topicrpc ", "topicrpcd.fish": "complete -c topicrpcd ",
	} {
		b, err := os.ReadFile(filepath.Join(dir, "completions", file))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("completions/%s: %v, want it to hold %q", file, err, want)
		}
	}
}
