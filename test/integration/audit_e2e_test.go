package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// topicrpcd --audit-log FILE writes one JSON line per request it takes —
// the signed call, the unsigned one it refused — with the args' digest,
// never the key; the file is created mode 600.
func TestAuditLogEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	keyPath, key := authKeyFile(t)
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	f.server("au1", "--auth-key-file", keyPath, "--audit-log", logPath)
	if r := f.client("", "call", "--auth-key-file", keyPath, "au1", "echo|top secret"); r.Code != 0 {
		t.Fatalf("signed call: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	f.client("", "call", "--timeout", "2s", "au1", "echo|unsigned")

	var lines []map[string]any
	for wait := time.Now().Add(10 * time.Second); len(lines) < 2 && time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(logPath)
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				lines = append(lines, m)
			}
		}
	}
	if len(lines) != 2 {
		t.Fatalf("audit log has %d records, want 2: %v", len(lines), lines)
	}
	if lines[0]["auth"] != "fleet-key" || lines[0]["outcome"] != "ok" || lines[0]["command"] != "echo" || lines[0]["args_sha256"] == nil {
		t.Errorf("signed call's record: %v", lines[0])
	}
	if lines[1]["auth"] != "unverified" || lines[1]["outcome"] != "unauthorized" || lines[1]["reason"] == nil {
		t.Errorf("unsigned call's record: %v", lines[1])
	}
	data, _ := os.ReadFile(logPath)
	if strings.Contains(string(data), "top secret") || strings.Contains(string(data), string(key)) {
		t.Errorf("the audit log holds the args or the key:\n%s", data)
	}
	if st, err := os.Stat(logPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v (%v), want 600", st.Mode().Perm(), err)
	}
	bad := bins.Run(t, "", "topicrpcd", "--url", f.b.URL, "--namespace", f.ns, "--name", "au2", "--audit-args", "some")
	nowhere := bins.Run(t, "", "topicrpcd", "--url", f.b.URL, "--namespace", f.ns, "--name", "au3", "--audit-log", "/nonexistent/dir/audit")
	if bad.Code != 64 || !strings.Contains(bad.Err, "--audit-args") || nowhere.Code != 64 || !strings.Contains(nowhere.Err, "--audit-log") {
		t.Errorf("bad flags: exit %d %q, exit %d %q; want 64 each", bad.Code, bad.Err, nowhere.Code, nowhere.Err)
	}
}
