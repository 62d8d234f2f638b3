package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// reservedTarget is the target every server binds (all.#): no server may
// take it as its name.
const reservedTarget = "all"

type serverOptions struct {
	*options
	name         string
	bindings     []string
	concurrency  int
	grace        time.Duration
	noDefaults   bool
	heartbeat    time.Duration
	ackAfter     time.Duration
	workGroups   []string
	noWork       bool
	allowExec    []string
	execLimit    int
	auditLog     string
	auditArgs    string
	trustCallers string
	metricsAddr  string
	policyFile   string
	noStore      bool
}

// RunServer runs the topicrpcd server program with args (without the program
// name) and returns its exit code. It serves until SIGINT or SIGTERM (or ctx
// ends), then stops taking requests and lets handlers in flight finish for
// the grace period; a second signal exits at once.
func RunServer(ctx context.Context, args []string, stdio IO) int {
	root := serverCommand(stdio)
	root.SetArgs(args)
	return execute(ctx, root, root.ErrOrStderr())
}

// serverCommand is topicrpcd's command, reading and writing stdio.
func serverCommand(stdio IO) *cobra.Command {
	o := &serverOptions{options: &options{io: stdio, program: "topicrpcd", timeout: time.Second, output: "text"}}
	if o.io.Getenv == nil {
		o.io.Getenv = os.Getenv
	}
	root := &cobra.Command{
		Use:   "topicrpcd",
		Short: "Serve topicrpc commands: run the named local function for every request the bindings attract",
		Long: `topicrpcd is a topicrpc server. It binds a queue named after --name with each --bind
pattern (plus all.# and <name>.#, so "all" and its own name reach it) and answers
every request with the named built-in or embedded function.

Patterns use RabbitMQ's topic rules: '*' matches one word, '#' zero or more.
When --name or --bind is missing and stdin is a terminal, it asks for them.`,
		Example:       `  topicrpcd --url amqp://guest:guest@localhost:5672/ --name q1 --bind 'group1.#'`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
		RunE:          func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetIn(o.io.In)
	root.SetOut(o.io.Out)
	root.SetErr(o.io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	f := root.Flags()
	o.connectionFlags(f)
	f.StringVar(&o.name, "name", "", "this server's name, unique in the fleet (its queue is named after it)")
	f.StringArrayVar(&o.bindings, "bind", nil, "a binding pattern, e.g. 'group1.#' (repeat for more)")
	f.BoolVar(&o.noDefaults, "no-default-bindings", false, "do not bind all.# and <name>.#")
	f.IntVar(&o.concurrency, "concurrency", 8, "requests handled at once (the prefetch count); more wait in the queue")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "on shutdown, how long handlers in flight may finish")
	f.DurationVar(&o.heartbeat, "heartbeat", app.DefaultHeartbeatInterval, "how often to announce presence; clients drop a server silent for 3 heartbeats")
	f.DurationVar(&o.ackAfter, "ack-after", app.DefaultAckDelay, "acknowledge a request still running this long after it was taken (a faster result is its own acknowledgement); 0 or negative: acknowledge at once")
	f.StringArrayVar(&o.workGroups, "work-group", nil, "take load-balanced requests (call --any) of this group (repeat); default: each group.# binding's group")
	f.BoolVar(&o.noWork, "no-work", false, "take no load-balanced requests")
	f.StringArrayVar(&o.allowExec, "allow-exec", nil, "enable the exec command for this program only: NAME=/absolute/path (repeat); run as argv, no shell; off by default")
	f.IntVar(&o.execLimit, "exec-output-limit", app.DefaultExecOutputLimit, "with --allow-exec: bytes of output kept per exec, the rest dropped")
	f.StringVar(&o.auditLog, "audit-log", "", "write one JSON line per request taken (who, what, outcome, duration; never the key) to this file, appended, mode 600; - for stderr")
	f.StringVar(&o.auditArgs, "audit-args", "digest", "what the audit log keeps of arguments: digest (SHA-256), full, or none")
	f.StringVar(&o.trustCallers, "trust-callers", "", "accept requests signed by a caller whose public key is a .pub file in DIR (topicrpc keygen); with --auth-key-file, those signed with the fleet key too")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on HOST:PORT (/metrics, with /healthz and /readyz); off when empty")
	f.BoolVar(&o.noStore, "no-store", false, "do not store replies in the results store, even for calls that ask for it (their jobs then show this server not received)")
	f.DurationVar(&o.jobs.MaxAge, "jobs-max-age", ports.DefaultJobMaxAge, "the results store keeps jobs this long (RabbitMQ: the stream's x-max-age; applies when the store is first declared)")
	f.Int64Var(&o.jobs.MaxBytes, "jobs-max-bytes", ports.DefaultJobMaxBytes, "the results store keeps at most this many bytes, the oldest dropped first (the stream's x-max-length-bytes; applies when the store is first declared)")
	f.StringVar(&o.policyFile, "policy", "", "run only what this policy file (YAML) allows: who may run which commands on which targets; reloaded on SIGHUP")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.BoolVar(&o.fxLog, "fx-log", false, "log the dependency-injection events (debug)")
	o.cfg.flags(f, o.defaultConfig(DaemonConfigFile))
	o.bindEnv(root)
	return root
}

func (o *serverOptions) run(ctx context.Context) error {
	if err := o.ask(); err != nil {
		return err
	}
	if o.concurrency < 1 {
		return usageError("--concurrency %d: want 1 or more", o.concurrency)
	}
	if o.heartbeat <= 0 {
		return usageError("--heartbeat %s: want a positive duration like 5s", o.heartbeat)
	}
	if o.grace < 0 {
		return usageError("--grace %s: want 0 or a positive duration like 10s", o.grace)
	}
	if o.ackAfter >= app.DefaultProgressInterval {
		return usageError("--ack-after %s: want less than the progress interval, %s", o.ackAfter, app.DefaultProgressInterval)
	}
	cfg := app.ServerConfig{Name: o.name, Bindings: o.bindings, NoDefaultBindings: o.noDefaults,
		Concurrency: o.concurrency, HeartbeatInterval: o.heartbeat, WorkGroups: o.workGroups,
		AckDelay: o.ackAfter}
	if o.ackAfter <= 0 {
		cfg.AckDelay = app.AckAtOnce // zero would mean the default
	}
	cfg.NoWorkGroups = o.noWork
	cfg.NoStore = o.noStore
	for _, g := range cfg.WorkGroups {
		if err := domain.ValidateGroup(g); err != nil {
			return usageError("--work-group: %v", err)
		}
	}
	if err := domain.ValidateServerName(cfg.Name); err != nil {
		return usageError("--name: %v", err)
	}
	if cfg.Name == reservedTarget {
		return usageError("--name %s: reserved, the target that reaches every server; choose another name", reservedTarget)
	}
	for _, b := range cfg.AllBindings() {
		if err := domain.ValidateBinding(b); err != nil {
			return usageError("--bind %q: %v", b, err)
		}
	}
	k, err := o.keys(o.trustCallers, "trust-callers")
	if err != nil {
		return err
	}
	cfg.AuthKey, cfg.CallerKeys, cfg.Identity = k.fleet, k.trusted, k.identity
	if k.identity != nil && k.identity.Name != cfg.Name {
		return usageError("%s %s: the key of %q, not of this server %q (its replies would be refused)",
			o.env.source("identity"), o.identityFile, k.identity.Name, cfg.Name)
	}
	if !k.trust().IsZero() {
		o.log.Info("requests must be signed; unsigned, forged, replayed and untrusted ones are refused",
			"fleet_key", k.fleet != nil, "caller_keys", k.trusted.Len())
	}
	if k.identity != nil {
		o.log.Info("replies, presence and the register entry are signed with this server's key", "identity", k.identity.Name)
	}
	gate, err := o.policyGate()
	if err != nil {
		return err
	}
	if gate != nil {
		cfg.Authorize = gate.Middleware
	}
	execModule, err := o.execModule()
	if err != nil {
		return err
	}
	audit, closeAudit, err := o.audit()
	if err != nil {
		return err
	}
	defer closeAudit()
	if audit != nil {
		cfg.Middleware = append([]app.Middleware{audit}, cfg.Middleware...)
	}
	tracer, stopTracing, err := o.tracer(ctx)
	if err != nil {
		return err
	}
	defer stopTracing()
	if tracer != nil {
		cfg.Middleware = append(cfg.Middleware, tracer.Middleware)
	}
	var metricsEP *metricsEndpoint
	if o.metricsAddr != "" {
		if metricsEP, err = listenMetrics(o.metricsAddr); err != nil {
			return err
		}
		defer metricsEP.close()
		metricsEP.instrument(&cfg)
		o.amqpObserver = metricsEP.m
		metricsEP.serve()
	}
	tm, err := o.transportModule(o.url)
	if err != nil {
		return err
	}
	var transport ports.Transport
	var fleet *app.Fleet
	a := fx.New(
		app.Logger(o.log, o.fxLog),
		tm,
		app.ServerModule(cfg),
		execModule,
		fx.Populate(&transport, &fleet),
		fx.StartTimeout(startTimeout), fx.StopTimeout(o.grace+stopTimeout),
	)
	if err := a.Err(); err != nil {
		return o.transportError("start "+cfg.Name, o.url, err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := a.Start(sctx); err != nil {
		if errors.Is(err, app.ErrDuplicateServer) {
			// One line, from the server's own words on.
			msg := err.Error()
			if i := strings.Index(msg, "start server "); i >= 0 {
				msg = msg[i:]
			}
			return &exitError{code: ExitNameTaken, err: errors.New(msg)}
		}
		return o.transportError("start "+cfg.Name, o.url, err)
	}
	if metricsEP != nil {
		metricsEP.started(transport)
	}
	o.log.Info("serving", "name", cfg.Name, "bindings", cfg.AllBindings(), "work_groups", cfg.AllWorkGroups(),
		"url", redact(o.url), "concurrency", o.concurrency)

	// Signals are this function's alone: fx's a.Done() would register a
	// handler of its own, so that one SIGTERM reached both, and the copy
	// left here was taken for a second signal (exit at once, no goodbye).
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	hup := o.reloadOnHangup(gate)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-hup:
			o.reload(gate, fleet)
		case s := <-sig:
			o.log.Info("stopping: finishing requests in flight", "signal", s.String(), "grace", o.grace)
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	if metricsEP != nil {
		metricsEP.stopping()
	}
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), o.grace+stopTimeout)
	defer cancelStop()
	go func() {
		select {
		case s := <-sig:
			o.log.Warn("second signal: exiting now", "signal", s.String())
			os.Exit(ExitCancelled)
		case <-stopCtx.Done():
		}
	}()
	if err := a.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop %s: %w", cfg.Name, err)
	}
	o.log.Info("stopped", "name", cfg.Name)
	return nil
}

// audit opens the audit log that --audit-log names, if any, and returns its
// middleware and what closes it.
func (o *serverOptions) audit() (app.Middleware, func(), error) {
	args, err := app.ParseAuditArgs(o.auditArgs)
	if err != nil {
		return nil, nil, usageError("--audit-args: %v", err)
	}
	switch o.auditLog {
	case "":
		return nil, func() {}, nil
	case "-":
		return app.Audit(o.io.Err, args), func() {}, nil
	}
	f, err := os.OpenFile(o.auditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, usageError("--audit-log: %v", err)
	}
	return app.Audit(f, args), func() { _ = f.Close() }, nil
}

// ask prompts for a missing name or bindings when a person is at the
// terminal, as the original tool did; otherwise a missing name is a usage error.
func (o *serverOptions) ask() error {
	if o.name != "" && (len(o.bindings) > 0 || o.noDefaults) {
		return nil
	}
	if !o.io.Interactive {
		if o.name == "" {
			return usageError("--name is required (and --bind, e.g. --name q1 --bind 'group1.#')")
		}
		return nil // no extra bindings: all.# and <name>.# only
	}
	in := bufio.NewReader(o.io.In)
	if o.name == "" {
		fmt.Fprint(o.io.Out, "input your queue_name: ")
		line, err := in.ReadString('\n')
		if o.name = strings.TrimSpace(line); o.name == "" {
			return usageError("no queue name given (%v)", orEOF(err))
		}
	}
	if len(o.bindings) == 0 {
		fmt.Fprint(o.io.Out, "input your binding keys: ")
		line, _ := in.ReadString('\n')
		o.bindings = strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' })
	}
	return nil
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}
