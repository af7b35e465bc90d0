package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// submitFlags are the flags of submit and run-script.
type submitFlags struct {
	priority       int64
	maxAttempts    int
	timeoutSeconds int
	dependsOn      string
	idempotencyKey string
	wait, logs     bool
	waitTimeout    time.Duration
	quiet          bool
}

func (s *submitFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&s.priority, "priority", 0, "`N` added to the job type's score (default: the farm's)")
	fs.IntVar(&s.maxAttempts, "max-attempts", 0, "`N` attempts before the job fails (default: the job type's)")
	fs.IntVar(&s.timeoutSeconds, "timeout-seconds", 0, "run time limit in `SECONDS` (default: the job type's)")
	fs.StringVar(&s.dependsOn, "depends-on", "", "comma-separated `IDS` of jobs that must succeed first")
	fs.StringVar(&s.idempotencyKey, "idempotency-key", "", "`KEY` sent as Idempotency-Key: submitting again with it returns the same job")
	fs.BoolVar(&s.wait, "wait", false, "wait until the job ends; exit 0 only if it succeeded")
	fs.BoolVar(&s.logs, "logs", false, "with --wait: print the job's log at the end")
	fs.DurationVar(&s.waitTimeout, "wait-timeout", 0, "with --wait: give up after this `DURATION` (e.g. 10m; 0: never)")
	fs.BoolVar(&s.quiet, "q", false, "print only the job ID")
}

// check rejects flag combinations that mean nothing.
func (s *submitFlags) check(c *call, given map[string]bool) error {
	switch {
	case s.logs && !s.wait:
		return c.usage("--logs needs --wait")
	case given["wait-timeout"] && !s.wait:
		return c.usage("--wait-timeout needs --wait")
	case s.waitTimeout < 0:
		return c.usage("--wait-timeout must not be negative")
	}
	return nil
}

// request is the submission; the fields whose flags were not given are left
// out, so the farm applies the job type's defaults.
func (s *submitFlags) request(typ string, payload json.RawMessage, given map[string]bool) apiv1.SubmitJobRequest {
	req := apiv1.SubmitJobRequest{Type: typ, Payload: payload, DependsOn: splitList(s.dependsOn)}
	if given["priority"] {
		req.Priority = &s.priority
	}
	if given["max-attempts"] {
		req.MaxAttempts = &s.maxAttempts
	}
	if given["timeout-seconds"] {
		req.TimeoutSeconds = &s.timeoutSeconds
	}
	return req
}

func runSubmit(c *call) error {
	fs := c.flags()
	var s submitFlags
	s.register(fs)
	typ := fs.String("type", "", "job `TYPE` (script, binary-build, live-image-build, recipe-build, ...)")
	payloadText := fs.String("payload", "", "the job's payload, `JSON` (default {})")
	payloadFile := fs.String("payload-file", "", "read the payload from this JSON `FILE` (- for stdin)")
	if _, err := c.parse(fs, 0, 0); err != nil {
		return err
	}
	given := givenFlags(fs)
	if err := s.check(c, given); err != nil {
		return err
	}
	if *typ == "" {
		return c.usage("--type is required")
	}
	payload, err := c.readPayload(*payloadText, *payloadFile, given)
	if err != nil {
		return err
	}
	return c.submit(s, s.request(*typ, payload, given))
}

// readPayload returns the payload from --payload or --payload-file.
func (c *call) readPayload(text, file string, given map[string]bool) (json.RawMessage, error) {
	var raw []byte
	switch {
	case given["payload"] && given["payload-file"]:
		return nil, c.usage("give --payload or --payload-file, not both")
	case given["payload-file"] && file == "-":
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return nil, fmt.Errorf("read the payload from stdin: %w", err)
		}
		raw = b
	case given["payload-file"]:
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, c.usage("--payload-file: %v", err)
		}
		raw = b
	case given["payload"]:
		raw = []byte(text)
	default:
		raw = []byte("{}")
	}
	if !json.Valid(raw) {
		return nil, c.usage("the payload is not valid JSON")
	}
	return compactRaw(raw), nil
}

func compactRaw(raw []byte) json.RawMessage {
	return json.RawMessage(compactJSON(raw))
}

func runScript(c *call) error {
	fs := c.flags()
	var s submitFlags
	s.register(fs)
	pool := fs.String("pool", "", "the `POOL` whose builders run it (default: the farm's default pool)")
	args, err := c.parse(fs, 1, -1)
	if err != nil {
		return err
	}
	given := givenFlags(fs)
	if err := s.check(c, given); err != nil {
		return err
	}
	// Several arguments are one script, as ssh joins its command: run-script echo hi.
	script := strings.Join(args, " ")
	payload, err := json.Marshal(struct {
		Script string `json:"script"`
		Pool   string `json:"pool,omitempty"`
	}{script, *pool})
	if err != nil {
		return err
	}
	return c.submit(s, s.request(farm.TypeScript, payload, given))
}

// submit sends the job and, with --wait, follows it to its end.
func (c *call) submit(s submitFlags, req apiv1.SubmitJobRequest) error {
	job, created, err := c.client.SubmitJob(c.ctx, req, s.idempotencyKey)
	if err != nil {
		if s.wait {
			// No job ran: not a code a job could have exited with.
			return &waitError{err}
		}
		return err
	}
	if !created && c.output == outputTable && !s.quiet {
		fmt.Fprintf(c.stderr, "farmctl: idempotency key %q had already made job %s\n", s.idempotencyKey, job.ID)
	}
	if s.quiet {
		fmt.Fprintln(c.stdout, job.ID)
	}
	if !s.wait {
		if s.quiet {
			return nil
		}
		return c.showJob(job)
	}
	return c.waitAndShow(job.ID, s.waitTimeout, s.logs, s.quiet)
}

// printFinalLog prints a finished job's log: on stdout after a table, on
// stderr when stdout is for machines (--output json, -q).
func (c *call) printFinalLog(id string, quiet bool) error {
	text, err := c.client.JobLog(c.ctx, id)
	if err != nil {
		return err
	}
	w := c.stdout
	if c.output == outputJSON || quiet {
		w = c.stderr
	}
	if c.output == outputTable && !quiet {
		fmt.Fprintln(w, "log:")
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	_, err = io.WriteString(w, text)
	return err
}
