package cli

import (
	"runtime"

	"github.com/topicrpc/topicrpc/app"
)

func versionString() string { return app.Version + " (" + runtime.Version() + ")" }
