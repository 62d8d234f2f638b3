package cli

import (
	"maps"
	"slices"
	"strings"

	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/app"
)

// execModule registers the exec command (app.ExecHandler) on the server's
// fleet when --allow-exec names at least one program, and does nothing
// otherwise: exec is off by default. Each --allow-exec is NAME=/absolute/path
// to an existing executable file; anything else is a usage error.
func (o *serverOptions) execModule() (fx.Option, error) {
	if len(o.allowExec) == 0 {
		return fx.Options(), nil
	}
	programs := make(map[string]string, len(o.allowExec))
	for _, spec := range o.allowExec {
		name, path, ok := strings.Cut(spec, "=")
		switch {
		case !ok || name == "" || path == "":
			return nil, usageError("--allow-exec %q: want NAME=/absolute/path/to/program, e.g. uptime=/usr/bin/uptime", spec)
		case programs[name] != "":
			return nil, usageError("--allow-exec %q: %s is already allowed as %s", spec, name, programs[name])
		}
		programs[name] = path
	}
	if err := app.CheckExecPrograms(programs); err != nil {
		return nil, usageError("--allow-exec: %v", err)
	}
	if o.execLimit <= 0 {
		return nil, usageError("--exec-output-limit %d: want a positive number of bytes", o.execLimit)
	}
	h := app.ExecHandler(programs, o.execLimit)
	o.log.Info("exec enabled", "programs", strings.Join(slices.Sorted(maps.Keys(programs)), ","),
		"output_limit", o.execLimit)
	return fx.Invoke(func(f *app.Fleet) error { return f.Handle("exec", h) }), nil
}
