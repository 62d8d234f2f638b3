package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// IO is what a program reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Interactive is true when In is a terminal a person types into.
	Interactive bool
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// DefaultConfig is the config file read when --config is not given,
	// where it exists; empty: the program's own (DaemonConfigFile, or
	// topicrpc/config.yaml under $XDG_CONFIG_HOME or ~/.config).
	DefaultConfig string
}

// DefaultURL is the broker used when neither --url nor TOPICRPC_URL is given.
const DefaultURL = "amqp://guest:guest@localhost:5672/"

// MemoryURL selects the embedded in-memory fleet instead of a broker.
const MemoryURL = "memory://"

type options struct {
	io            IO
	program       string
	url           string
	managementURL string
	queueTypes    string // --queue-types: auto, classic or replicated
	tls           tlsOptions
	authKeyFile   string
	identityFile  string               // --identity: this program's private key
	trustServers  string               // --trust-servers (client): servers' public keys
	caller        string               // --caller (client): the name claimed without --identity
	record        bool                 // --record (client): keep each call as a job (ClientConfig.Record)
	readsJobs     bool                 // the command reads the results store (job, jobs)
	jobs          ports.JobStoreLimits // topicrpcd --jobs-max-*: the results store's bounds, when it declares it
	namespace     string
	discovery     string
	timeout       time.Duration
	output        string
	logLevel      string
	logFormat     string
	fxLog         bool
	color         string // --color: auto, always or never
	log           *slog.Logger
	logOut        *stderr         // where log goes: o.io.Err, minding the live line
	transport     ports.Transport // the client's, once withClient started it
	amqpObserver  amqp.Observer   // hears the AMQP connection's losses (topicrpcd --metrics-addr); may be nil
	// env knows each flag's environment variable.
	env *envFlags
	// cfg is the config file (--config).
	cfg configFile
}

// Run runs the topicrpc client program with args (without the program name)
// and returns its exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	root := clientCommand(stdio)
	root.SetArgs(args)
	return execute(ctx, root, root.ErrOrStderr())
}

// clientCommand is topicrpc's command tree, reading and writing stdio.
func clientCommand(stdio IO) *cobra.Command {
	o := &options{io: stdio, program: "topicrpc"}
	if o.io.Getenv == nil {
		o.io.Getenv = os.Getenv
	}
	root := &cobra.Command{
		Use:   "topicrpc",
		Short: "Send one command to all servers, a group or one server over a topic exchange, and gather every answer",
		Long: `topicrpc sends one command to all servers, to a group, or to one server, and
shows every answer as it arrives. It finishes by itself: as soon as every server
that should answer has answered, or at the deadline, naming who stayed silent.

Exit codes: 0 all ok, 1 some server answered with an error, 2 some expected server
did not run it (not received, timed out, down or stopped), 3 no server matched the target,
4 no such job, 5 job still running, 64 usage error,
69 transport unreachable, 70 internal error, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetIn(o.io.In)
	root.SetOut(o.io.Out)
	root.SetErr(o.io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	f := root.PersistentFlags()
	o.connectionFlags(f)
	o.discoveryFlag(f)
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of each call")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json (JSON Lines: one object per reply, then a summary)")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.BoolVar(&o.fxLog, "fx-log", false, "log the dependency-injection events (debug)")
	f.StringVar(&o.trustServers, "trust-servers", "", "believe only replies, presence and register entries signed by the server they name, whose public key is a .pub file in DIR (or with the --auth-key-file key)")
	f.StringVar(&o.caller, "caller", "", "the caller name requests carry without --identity: claimed, not proven")
	f.BoolVar(&o.record, "record", true, "keep each call as a job in the results store on the broker, so that replies coming after the call ended can be read with topicrpc job (--record=false: not kept)")
	f.StringVar(&o.color, "color", "auto", "colour the states: auto (when stdout is a terminal and NO_COLOR is not set), always or never")
	o.cfg.flags(f, o.defaultConfig(clientConfigPath(o.io.Getenv)))
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() } // runnable, for --print-config
	root.AddCommand(newDemoCmd(o), newShellCmd(o), newCallCmd(o), newJobCmd(o), newJobsCmd(o), newServersCmd(o), newForgetCmd(o), newBrokerPermissionsCmd(o), newMatchCmd(o), newKeygenCmd(o), newVersionCmd(o))
	root.AddCommand(newWebCmd(o))
	o.completions(root)
	o.bindEnv(root)
	return root
}

// execute runs a cobra root and turns its error into one line and an exit code.
func execute(ctx context.Context, root *cobra.Command, stderr io.Writer) int {
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Errors cobra raises itself (unknown command, bad args) are usage errors.
		if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
			// cobra's "Did you mean this?" comes on lines of its own: one line.
			msg := strings.Replace(err.Error(), "\n\nDid you mean this?", "; did you mean", 1)
			err = &exitError{code: ExitUsage, err: errors.New(strings.Join(strings.Fields(msg), " "))}
		}
	}
	code := codeOf(err)
	if errors.As(err, &ee) && ee.err == nil {
		return code
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	if code == ExitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", root.Name())
	}
	return code
}

func (o *options) setup() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageError("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	if o.timeout < MinTimeout || o.timeout > MaxTimeout {
		return usageError("--timeout %s: want a duration from %s to %s, like 5s", o.timeout, MinTimeout, MaxTimeout)
	}
	if o.output != "text" && o.output != "json" && o.output != "jsonl" {
		return usageError("--output %q: want text or json", o.output)
	}
	switch o.color {
	case "", "auto", "always", "never": // "": topicrpcd has no --color
	default:
		return usageError("--color %q: want auto, always or never", o.color)
	}
	hopts := &slog.HandlerOptions{Level: level}
	o.logOut = &stderr{w: o.io.Err}
	switch o.logFormat {
	case "text":
		o.log = slog.New(slog.NewTextHandler(o.logOut, hopts))
	case "json":
		o.log = slog.New(slog.NewJSONHandler(o.logOut, hopts))
	default:
		return usageError("--log-format %q: want text or json", o.logFormat)
	}
	if o.url == "" {
		o.url = DefaultURL
	}
	switch o.discovery {
	case "auto", "routes", "presence", "none", "":
	default:
		return usageError("--discovery %q: want auto, routes, presence or none", o.discovery)
	}
	if err := domain.ValidateNamespace(o.namespace); err != nil {
		return usageError("--namespace: %v", err)
	}
	return nil
}

// connectionFlags are the flags both programs take to reach a broker.
func (o *options) connectionFlags(f *pflag.FlagSet) {
	f.Var(&urlList{p: &o.url}, "url", "broker URL (amqp://, amqps://) or memory:// for the embedded demo fleet; repeat it or separate with commas for the nodes of a cluster (one is used, the next on failure); default "+DefaultURL)
	f.StringVar(&o.queueTypes, "queue-types", "auto", "queues for one broker (classic) or that survive the loss of a cluster node (replicated); auto: replicated with several --url")
	f.StringVar(&o.managementURL, "management-url", "", "RabbitMQ management API (http://user:password@host:15672), to know who should answer")
	f.StringVar(&o.namespace, "namespace", "topicrpc", "exchange name and queue name prefix, to run separate fleets on one broker")
	f.StringVar(&o.authKeyFile, "auth-key-file", "", "sign requests (client) or require signed ones (server) with the secret key in FILE (at least 32 bytes, mode 600)")
	f.StringVar(&o.identityFile, "identity", "", "sign with this private key (NAME.key from topicrpc keygen, mode 600): requests name the caller, replies the server")
	o.tls.flags(f)
}

// discoveryFlag is the client's way to know who should answer.
func (o *options) discoveryFlag(f *pflag.FlagSet) {
	f.StringVar(&o.discovery, "discovery", "auto", "how to know who should answer: auto (the fleet register, else the management API's routes), routes, presence, or none (acks and an idle gap)")
}

// bindEnv gives every flag of root's commands its environment variable,
// and reads the config file, both applied before setup checks the values
// (flags > environment > file > defaults). Call it once every command and
// flag is in place.
func (o *options) bindEnv(root *cobra.Command) {
	o.env = bindEnv(root)
	o.cfg.prepare(root)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if textOnly(cmd) {
			return nil
		}
		if err := o.env.apply(cmd, o.io.Getenv); err != nil {
			return err
		}
		if err := o.cfg.apply(cmd, o.env); err != nil {
			return err
		}
		if err := o.setup(); err != nil {
			return err
		}
		if o.cfg.printConfig {
			if err := o.cfg.print(o.io.Out, cmd, o.env); err != nil {
				return err
			}
			return &exitError{code: ExitOK}
		}
		return nil
	}
}

// textOnly reports whether cmd only prints text about the program: help,
// and the shell completion scripts. Those read neither the environment
// nor the config file, so that a broken config file does not keep an
// operator from the help that tells how to fix it.
func textOnly(cmd *cobra.Command) bool {
	if cmd.Name() == "help" && cmd.Parent() == cmd.Root() {
		return true
	}
	for c := cmd; c != nil && c != cmd.Root(); c = c.Parent() {
		if c.Name() == "completion" && c.Parent() == cmd.Root() {
			return true
		}
	}
	return false
}

// defaultConfig is the config file read when --config is not given:
// IO.DefaultConfig, else def.
func (o *options) defaultConfig(def string) string {
	if o.io.DefaultConfig != "" {
		return o.io.DefaultConfig
	}
	return def
}

// signalContext is ctx, also cancelled by SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newVersionCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(o.io.Out, cmd.Root().Name(), versionString()) },
	}
}
