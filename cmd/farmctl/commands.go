package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// command is one farmctl command: a leaf that runs, or a group of commands
// (jobs, builders, tokens, pools).
type command struct {
	name     string
	synopsis string // what follows the name in a usage line
	summary  string
	run      func(c *call) error
	subs     []*command
}

// commandTree is every farmctl command. It is a function, not a variable,
// because help reads it from inside the commands it lists.
func commandTree() []*command {
	return []*command{
		{name: "submit", synopsis: "--type TYPE [--payload JSON | --payload-file FILE] [--wait [--logs]] [flags]", summary: "submit a job", run: runSubmit},
		{name: "run-script", synopsis: "SCRIPT [--pool POOL] [--wait [--logs]] [flags]", summary: "submit a script job (run with sh -c SCRIPT)", run: runScript},
		{name: "jobs", summary: "list, inspect and manage jobs", subs: []*command{
			{name: "list", synopsis: "[--status S] [--type T] [--pool P] [--requested-by ACTOR | --mine] [--limit N] [--cursor C] [--all]", summary: "list jobs, newest first", run: runJobsList},
			{name: "get", synopsis: "ID", summary: "show a job", run: runJobsGet},
			{name: "events", synopsis: "ID", summary: "show a job's history", run: runJobsEvents},
			{name: "log", synopsis: "ID [--follow]", summary: "print a job's log (--follow: until the job ends)", run: runJobsLog},
			{name: "wait", synopsis: "ID [--logs] [--wait-timeout D]", summary: "wait until a job ends; exit with its exit status", run: runJobsWait},
			{name: "cancel", synopsis: "ID", summary: "cancel a job", run: runJobsCancel},
			{name: "retry", synopsis: "ID", summary: "queue a failed, cancelled or timed-out job again", run: runJobsRetry},
			{name: "score", synopsis: "ID SCORE", summary: "pin a job's score (admin)", run: runJobsScore},
		}},
		{name: "artifacts", summary: "list and download a job's artifacts", subs: []*command{
			{name: "list", synopsis: "JOB", summary: "list a job's artifacts, of every run (attempt), with their sha256", run: runArtifactsList},
			{name: "get", synopsis: "JOB NAME [-o FILE|-] [--attempt N]", summary: "download an artifact (checked against its sha256)", run: runArtifactsGet},
		}},
		{name: "queue", summary: "show each pool's queue, builders and time to start", run: runQueue},
		{name: "builders", summary: "list, inspect, disable and enable builders", subs: []*command{
			{name: "list", summary: "list builders", run: runBuildersList},
			{name: "get", synopsis: "NAME", summary: "show a builder", run: runBuildersGet},
			{name: "disable", synopsis: "NAME --reason REASON", summary: "take a builder out of service (admin)", run: runBuildersDisable},
			{name: "enable", synopsis: "NAME [--reason REASON]", summary: "put a builder back in service (admin)", run: runBuildersEnable},
		}},
		{name: "tokens", summary: "issue, list and revoke API tokens (admin)", subs: []*command{
			{name: "create", synopsis: "--role submitter|builder|admin [--builder NAME [--pools P1,P2]] [--expires-in DURATION] [--name NAME]", summary: "issue a token; it is shown once (admin)", run: runTokensCreate},
			{name: "list", summary: "list the tokens that work, without their secrets (admin)", run: runTokensList},
			{name: "revoke", synopsis: "ID", summary: "revoke a token: it answers 401 from then on (admin)", run: runTokensRevoke},
		}},
		{name: "pools", summary: "manage resource pools", subs: []*command{
			{name: "put", synopsis: "POOL [--description D] [--lease-seconds N] [--clean-script S]", summary: "create or update a resource pool (admin)", run: runPoolsPut},
			{name: "add-resource", synopsis: "POOL RESOURCE [--attr KEY=VALUE ...]", summary: "add a free resource to a pool (admin)", run: runPoolsAddResource},
			{name: "get", synopsis: "POOL", summary: "show a pool and its resources", run: runPoolsGet},
			{name: "acquire", synopsis: "POOL --holder HOLDER [--lease-seconds N]", summary: "take a free resource; prints its lease token", run: runPoolsAcquire},
			{name: "release", synopsis: "POOL RESOURCE --lease-token TOKEN", summary: "give a resource back (it is cleaned, then free)", run: runPoolsRelease},
		}},
		{name: "health", summary: "check that the farm answers", run: runHealth},
		{name: "version", summary: "print farmctl's version", run: runVersion},
	}
}

// run runs farmctl with args (without the program name) and returns the exit code.
func (a *app) run(args []string) int { return a.exitCode(a.dispatch(args)) }

func (a *app) dispatch(args []string) error {
	top := &command{name: "farmctl", synopsis: "[--api URL] [--token TOKEN] [--output table|json] COMMAND ...", summary: "the buildfarm command-line client", subs: commandTree()}
	return a.walk("farmctl", top, args)
}

// walk finds the command args name under group and runs it. Global flags
// may come before each name (farmctl -o json jobs list, farmctl jobs -o json list).
func (a *app) walk(path string, group *command, args []string) error {
	fs := a.newFlagSet(path)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printGroupHelp(a.stdout, path, group)
			return errHelpShown
		}
		return groupUsage(path, group, err.Error())
	}
	args = fs.Args()
	if len(args) == 0 {
		return groupUsage(path, group, "missing command")
	}
	if args[0] == "help" && path == "farmctl" {
		// "farmctl help jobs get" is "farmctl jobs get -h".
		return a.walk(path, group, append(args[1:], "-h"))
	}
	for _, cmd := range group.subs {
		if cmd.name != args[0] {
			continue
		}
		name := path + " " + cmd.name
		if cmd.subs != nil {
			return a.walk(name, cmd, args[1:])
		}
		return cmd.run(&call{app: a, name: name, cmd: cmd, args: args[1:]})
	}
	return groupUsage(path, group, fmt.Sprintf("unknown command %q", args[0]))
}

func groupUsage(path string, group *command, msg string) error {
	names := make([]string, len(group.subs))
	for i, c := range group.subs {
		names[i] = c.name
	}
	return &usageError{command: path, usage: path + " " + strings.Join(names, "|") + " ... (" + path + " -h for help)", msg: msg}
}

func (a *app) printGroupHelp(w io.Writer, path string, group *command) {
	fmt.Fprintf(w, "usage: %s", path)
	if group.synopsis != "" {
		fmt.Fprintf(w, " %s", group.synopsis)
	} else {
		fmt.Fprint(w, " COMMAND ...")
	}
	fmt.Fprintf(w, "\n\n%s.\n\ncommands:\n", capitalize(group.summary))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range group.subs {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nglobal flags (before or after the command):\n")
	fs := a.newFlagSet(path)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for a command's flags.\n", path)
}

func (a *app) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// farmctl prints flag errors and help itself (usage errors to stderr, help to stdout).
	fs.SetOutput(io.Discard)
	a.registerGlobals(fs)
	return fs
}

// call is one leaf command being run.
type call struct {
	*app
	name string // "farmctl jobs get"
	cmd  *command
	args []string
}

// flags returns the command's flag set, with the global flags in it.
func (c *call) flags() *flag.FlagSet { return c.newFlagSet(c.name) }

// parseLocal parses the command's flags and between min and max (-1: any)
// positional arguments, for a command that does not call the farm.
func (c *call) parseLocal(fs *flag.FlagSet, min, max int) ([]string, error) {
	args, err := parseArgs(fs, c.args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(fs)
		return nil, errHelpShown
	}
	if err != nil {
		return nil, c.usage("%v", err)
	}
	switch {
	case len(args) < min:
		return nil, c.usage("missing arguments")
	case max >= 0 && len(args) > max:
		return nil, c.usage("unexpected arguments %q", args[max:])
	}
	if err := c.settle(); err != nil {
		return nil, c.usage("%v", err)
	}
	return args, nil
}

// parse is parseLocal, then the client for the farm.
func (c *call) parse(fs *flag.FlagSet, min, max int) ([]string, error) {
	args, err := c.parseLocal(fs, min, max)
	if err != nil {
		return nil, err
	}
	if err := c.connect(); err != nil {
		return nil, c.usage("%v", err)
	}
	return args, nil
}

// usage returns a usage error of the command (exit code 2).
func (c *call) usage(format string, args ...any) error {
	u := c.name
	if c.cmd.synopsis != "" {
		u += " " + c.cmd.synopsis
	}
	return &usageError{command: c.name, usage: u, msg: fmt.Sprintf(format, args...)}
}

func (c *call) printHelp(fs *flag.FlagSet) {
	fmt.Fprintf(c.stdout, "usage: %s %s\n\n%s.\n\nflags:\n", c.name, c.cmd.synopsis, capitalize(c.cmd.summary))
	fs.SetOutput(c.stdout)
	fs.PrintDefaults()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
