package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/client"
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

// jobOutcomeError is a waited-for job that ended without succeeding (exit code 1).
type jobOutcomeError struct{ job *farm.Job }

func (e *jobOutcomeError) Error() string {
	s := fmt.Sprintf("job %s %s", e.job.ID, e.job.Status)
	if e.job.Error != "" {
		s += ": " + e.job.Error
	}
	return s
}

// waitJob polls a job until it is terminal (succeeded, failed, cancelled,
// timed_out) or until timeout (0: no limit). With progress, each status
// change is told on stderr.
func (c *call) waitJob(id string, timeout time.Duration, progress bool) (*farm.Job, error) {
	ctx := c.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	b := backoff{min: c.pollMin, max: c.pollMax}
	var (
		last     *farm.Job
		failures int
	)
	for {
		job, err := c.client.GetJob(ctx, id)
		switch {
		case err == nil:
			failures = 0
			if progress && (last == nil || job.Status != last.Status) {
				fmt.Fprintln(c.stderr, describeStatus(job))
			}
			last = job
			if job.Status.Terminal() {
				return job, nil
			}
		case ctx.Err() != nil:
			return nil, c.waitEnded(ctx, id, timeout, last)
		case client.IsTemporary(err) && failures < maxPollFailures:
			failures++
			fmt.Fprintf(c.stderr, "farmctl: polling job %s: %v (trying again)\n", id, err)
		default:
			return nil, err
		}
		if err := sleep(ctx, b.next()); err != nil {
			return nil, c.waitEnded(ctx, id, timeout, last)
		}
	}
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
