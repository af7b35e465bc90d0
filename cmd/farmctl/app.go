package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
)

const (
	defaultAPI = "http://127.0.0.1:8080"

	outputTable = "table"
	outputJSON  = "json"

	// Exit codes: 2 for a command line farmctl cannot run, 1 for everything
	// that went wrong after (the farm refused, the network failed).
	exitOK    = 0
	exitError = 1
	exitUsage = 2

	// While farmctl waits for a job (--wait, jobs wait) its exit status is
	// the job's, as docker run's is its container's: 0 when it succeeded,
	// the job's own exit code (a script's) when it failed with one, and
	// these for the other endings (docs/farmctl.md).
	exitJobFailed    = 1   // failed without an exit code of its own
	exitJobTimedOut  = 124 // timed out, as timeout(1) says it
	exitWaitError    = 125 // farmctl did not see the end: the farm refused or was unreachable, or the wait gave up or was interrupted
	exitJobCancelled = 130 // cancelled, as a shell says of a command stopped by Ctrl-C
)

// app is one run of farmctl: its streams, environment and settings.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
	// pollMin and pollMax bound the polling of --wait and --follow (tests shrink them).
	pollMin, pollMax time.Duration
	// httpTimeout bounds one API call.
	httpTimeout time.Duration
	// retry is the client's policy for idempotent calls (tests shrink it).
	retry client.RetryPolicy
	// isTerminal tells a terminal from a pipe or a file (live waits,
	// progress bars); tests pretend.
	isTerminal func(io.Writer) bool

	// The global flags, shared by the flag sets of farmctl and of every command.
	apiFlag, tokenFlag, outputFlag setting

	// Set once a command's flags are parsed.
	output string
	client *client.Client
	raw    *rawJSON
}

func newApp(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{
		ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		now:         time.Now,
		pollMin:     250 * time.Millisecond,
		pollMax:     5 * time.Second,
		httpTimeout: 60 * time.Second,
		retry:       client.DefaultRetry,
		isTerminal:  isTerminalFile,
	}
}

// registerGlobals adds the global flags to fs. They are accepted before the
// command's name and after it.
func (a *app) registerGlobals(fs *flag.FlagSet) {
	fs.Var(&a.apiFlag, "api", "farm API base `URL` (env FARM_API, default "+defaultAPI+")")
	fs.Var(&a.tokenFlag, "token", "API `TOKEN` (env FARM_TOKEN)")
	fs.Var(&a.outputFlag, "output", "output `FORMAT`: table or json (env FARM_OUTPUT, default table)")
	fs.Var(&a.outputFlag, "o", "short for --output")
}

// settle resolves the global settings: a flag wins over its environment
// variable, which wins over the default.
func (a *app) settle() error {
	a.output = a.outputFlag.resolve(a.getenv, "FARM_OUTPUT", outputTable)
	if a.output != outputTable && a.output != outputJSON {
		return fmt.Errorf("--output must be table or json, not %q", a.output)
	}
	return nil
}

// connect builds the API client. Its transport keeps the farm's raw JSON
// answers for --output json.
func (a *app) connect() error {
	a.raw = &rawJSON{next: http.DefaultTransport}
	c, err := client.New(
		a.apiFlag.resolve(a.getenv, "FARM_API", defaultAPI),
		a.tokenFlag.resolve(a.getenv, "FARM_TOKEN", ""),
		client.WithHTTPClient(&http.Client{Timeout: a.httpTimeout, Transport: a.raw}),
		client.WithUserAgent("farmctl/"+version()),
		// Reads, and submits with an idempotency key, go through a farm
		// that answers 503 for a few seconds (docs/farmctl.md, Retries).
		client.WithRetry(a.retry),
	)
	if err != nil {
		return fmt.Errorf("--api: %s", strings.TrimPrefix(err.Error(), "client: "))
	}
	a.client = c
	return nil
}

// usageError is a command line farmctl cannot run: exit code 2.
type usageError struct {
	command string // "farmctl jobs get"
	usage   string // "farmctl jobs get ID"
	msg     string
}

func (e *usageError) Error() string { return e.command + ": " + e.msg }

// errHelpShown ends a run that printed help: exit code 0.
var errHelpShown = errors.New("help shown")

// exitCode prints err the way farmctl's users read it and returns the exit code.
func (a *app) exitCode(err error) int {
	var (
		usage   *usageError
		status  *client.StatusError
		outcome *jobOutcomeError
	)
	var waiting *waitError
	if errors.As(err, &waiting) {
		a.exitCode(waiting.err)
		return exitWaitError
	}
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(a.stderr, "%s\nusage: %s\n", usage.Error(), usage.usage)
		return exitUsage
	case errors.As(err, &status):
		fmt.Fprintf(a.stderr, "error: %s: %s", status.Code(), status.Err.Message)
		if status.RequestID != "" {
			fmt.Fprintf(a.stderr, " (request %s)", status.RequestID)
		}
		fmt.Fprintln(a.stderr)
		return exitError
	case errors.As(err, &outcome):
		fmt.Fprintf(a.stderr, "error: %s\n", outcome.Error())
		return outcome.exitCode()
	case errors.Is(err, context.Canceled) && a.ctx.Err() != nil:
		fmt.Fprintln(a.stderr, "error: interrupted")
		return exitError
	default:
		fmt.Fprintf(a.stderr, "error: %s\n", strings.TrimPrefix(err.Error(), "client: "))
		return exitError
	}
}
