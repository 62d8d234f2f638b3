package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// maxPolicyFile bounds what is read from a policy file.
const maxPolicyFile = 4 << 20

// policyGate reads the --policy file and returns the gate enforcing it, or
// nil without --policy. A file that cannot be read or parsed is a usage
// error naming it and the line.
func (o *serverOptions) policyGate() (*app.PolicyGate, error) {
	if o.policyFile == "" {
		return nil, nil
	}
	p, err := o.readPolicy()
	if err != nil {
		return nil, usageError("%v", err)
	}
	o.log.Info("policy loaded: requests it does not allow are refused (forbidden)", "file", o.policyFile, "rules", p.Len())
	return app.NewPolicyGate(p, o.log), nil
}

// readPolicy reads and parses the --policy file.
func (o *serverOptions) readPolicy() (*domain.Policy, error) {
	source := o.env.source("policy")
	fi, err := os.Stat(o.policyFile)
	switch {
	case err != nil:
		return nil, usageError("%s: %v", source, err)
	case fi.Size() > maxPolicyFile:
		return nil, usageError("%s %s: %d bytes, at most %d", source, o.policyFile, fi.Size(), maxPolicyFile)
	}
	data, err := os.ReadFile(o.policyFile)
	if err != nil {
		return nil, usageError("%s: %v", source, err)
	}
	p, err := app.ParsePolicy(data)
	if err != nil {
		return nil, usageError("%s %s: %v", source, o.policyFile, err)
	}
	return p, nil
}

// reloadOnHangup returns the channel SIGHUP arrives on when there is a
// policy or trusted caller keys to reload; nil (never ready) otherwise,
// leaving SIGHUP's default.
func (o *serverOptions) reloadOnHangup(gate *app.PolicyGate) chan os.Signal {
	if gate == nil && o.trustCallers == "" {
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reload reads the policy file and the trusted callers' keys again (on
// SIGHUP): each that reads well replaces the one in place (one line: loaded,
// with its rule or key count); one that does not is left as it was (one
// line: why).
func (o *serverOptions) reload(gate *app.PolicyGate, fleet *app.Fleet) {
	if o.trustCallers != "" {
		o.reloadCallerKeys(fleet)
	}
	if gate != nil {
		o.reloadPolicy(gate)
	}
}

func (o *serverOptions) reloadCallerKeys(fleet *app.Fleet) {
	keys, err := loadKeyring(o.trustCallers, o.env.source("trust-callers"))
	if err == nil {
		for _, s := range fleet.Servers() {
			if err = s.SetCallerKeys(keys); err != nil {
				break
			}
		}
	}
	if err != nil {
		o.log.Error("trusted caller keys not reloaded: keeping the ones in place", "err", err.Error())
		return
	}
	o.log.Info("trusted caller keys reloaded", "dir", o.trustCallers, "keys", keys.Len())
}

func (o *serverOptions) reloadPolicy(gate *app.PolicyGate) {
	p, err := o.readPolicy()
	if err != nil {
		o.log.Error("policy not reloaded: keeping the one in place", "err", err.Error())
		return
	}
	gate.Set(p)
	o.log.Info("policy reloaded", "file", o.policyFile, "rules", p.Len())
}
