package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// maxPollFailures is how many polls in a row may fail temporarily (network,
// 5xx, 429) before a wait gives up: a farm restarting should not end a wait,
// a farm that is gone should.
const maxPollFailures = 5

// backoff is a polling schedule: it starts at min and grows by half each
// poll up to max. reset starts over (new output arrived).
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
		return b.cur
	}
	b.cur += b.cur / 2
	if b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func runJobsWait(c *call) error {
	fs := c.flags()
	logs := fs.Bool("logs", false, "print the job's log at the end")
	timeout := fs.Duration("wait-timeout", 0, "give up after this `DURATION` (e.g. 10m; 0: never)")
	quiet := fs.Bool("q", false, "print nothing but errors: the exit code tells")
	args, err := c.parse(fs, 1, 1)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return c.usage("--wait-timeout must not be negative")
	}
	return c.waitAndShow(args[0], *timeout, *logs, *quiet)
}

// jobOutcomeError is a waited-for job that ended without succeeding.
type jobOutcomeError struct{ job *farm.Job }

// exitCode is farmctl's exit status for the job's ending.
func (e *jobOutcomeError) exitCode() int {
	switch e.job.Status {
	case farm.StatusCancelled:
		return exitJobCancelled
	case farm.StatusTimedOut:
		return exitJobTimedOut
	}
	// A script killed by a signal has no exit code of its own here (sh
	// itself would report 128+n, and then it is the code).
	if c := e.job.ExitCode; c != nil && *c > 0 && *c < 256 {
		return *c
	}
	return exitJobFailed
}

// waitError is anything but the job's ending that stopped a wait: the
// farm's refusal, a network that stayed down, the wait's own timeout, an
// interrupt. It exits with exitWaitError, apart from the job's codes.
type waitError struct{ err error }

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

func (e *jobOutcomeError) Error() string {
	s := fmt.Sprintf("job %s %s", e.job.ID, e.job.Status)
	if e.job.Error != "" {
		s += ": " + e.job.Error
	}
	return s
}

// waitEnded explains a wait that stopped before the job ended: the job goes
// on, and the message says how to wait for it again.
func (c *call) waitEnded(ctx context.Context, id string, timeout time.Duration, last *farm.Job) error {
	status := "in an unknown state"
	if last != nil {
		status = string(last.Status)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && c.ctx.Err() == nil {
		return fmt.Errorf("gave up waiting for job %s after %s: it is %s (farmctl jobs wait %s)", id, timeout, status, id)
	}
	return fmt.Errorf("interrupted: job %s is %s and goes on (farmctl jobs wait %s)", id, status, id)
}

// describeStatus is one progress line of a wait.
func describeStatus(j *farm.Job) string {
	s := fmt.Sprintf("job %s %s", j.ID, j.Status)
	switch {
	case j.Status.Active() && j.Builder != "":
		s += " on " + j.Builder
	case j.Status == farm.StatusQueued && j.EstimatedStartAt != nil:
		s += ", estimated start " + fmtTime(j.EstimatedStartAt)
	case j.Status.Terminal() && j.DurationSeconds != nil:
		s += " after " + fmtSeconds(j.DurationSeconds)
	}
	return s
}
