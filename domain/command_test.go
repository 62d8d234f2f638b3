package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    domain.Command
		wantErr string // substring of the error; empty means no error
	}{
		{in: "echo|hello world!", want: domain.Command{Name: "echo", Args: "hello world!"}},
		{in: "fib|30", want: domain.Command{Name: "fib", Args: "30"}},
		{in: "fib 30", want: domain.Command{Name: "fib", Args: "30"}},
		{in: "echo   hello  there ", want: domain.Command{Name: "echo", Args: "hello  there"}},
		{in: "ping", want: domain.Command{Name: "ping"}},
		{in: "  ping  ", want: domain.Command{Name: "ping"}},
		{in: "echo|", want: domain.Command{Name: "echo"}},
		{in: "echo|a|b", want: domain.Command{Name: "echo", Args: "a|b"}},
		{in: " echo |x", want: domain.Command{Name: "echo", Args: "x"}},
		{in: "my.cmd-2_x|y", want: domain.Command{Name: "my.cmd-2_x", Args: "y"}},
		{in: "", wantErr: "empty input"},
		{in: "   ", wantErr: "empty input"},
		{in: "|hello", wantErr: "empty command name"},
		{in: "2fib|3", wantErr: "must start with a letter"},
		{in: "ec*ho|x", wantErr: `has '*'`},
		{in: strings.Repeat("a", 65), wantErr: "at most 64"},
		{in: "echo|\xff", wantErr: "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := domain.ParseCommand(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, domain.ErrBadCommand) {
					t.Fatalf("ParseCommand(%q) = %v, %v; want error containing %q wrapping ErrBadCommand", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCommandStringRoundTrips(t *testing.T) {
	t.Parallel()
	for _, c := range []domain.Command{{Name: "echo", Args: "hello group1 !"}, {Name: "ping"}, {Name: "x", Args: "a|b"}} {
		got, err := domain.ParseCommand(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"echo|hello", "fib 30", "", "|", "a|b|c", "\xff|x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := domain.ParseCommand(s)
		if err != nil {
			if !errors.Is(err, domain.ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		if c.Validate() != nil {
			t.Fatalf("parsed command %+v does not validate", c)
		}
		again, err := domain.ParseCommand(c.String())
		if err != nil || again.Name != c.Name {
			t.Fatalf("re-parse of %q = %+v, %v", c.String(), again, err)
		}
	})
}
