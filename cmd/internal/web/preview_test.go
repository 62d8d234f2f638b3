package web_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestPreview: who a target would reach, by the register and the
// broker's topic rules.
func TestPreview(t *testing.T) {
	t.Parallel()
	c := newConsole(t, "")
	for target, want := range map[string][]string{
		"all": {"q1", "q2"}, "g1": {"q1"}, "g2.x": {"q2"}, "q2": {"q2"}, "nobody": {},
	} {
		resp, body := c.get(t, "/api/preview?target="+target)
		var p struct {
			Servers []struct{ Name, State string }
			Error   string
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %s %q: %v", target, resp.Status, body, err)
		}
		var got []string
		for _, s := range p.Servers {
			got = append(got, s.Name)
			if s.State != "up" {
				t.Errorf("%s: %s is %s; want up", target, s.Name, s.State)
			}
		}
		if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) || p.Error != "" {
			t.Errorf("preview of %s: %v (error %q); want %v", target, got, p.Error, want)
		}
	}
	if _, body := c.get(t, "/api/preview?target="+strings.Repeat("x", 300)); !json.Valid([]byte(body)) || !containsError(body) {
		t.Errorf("a bad target: %s; want its error", body)
	}
}

func containsError(body string) bool {
	var p struct{ Error string }
	return json.Unmarshal([]byte(body), &p) == nil && p.Error != ""
}
