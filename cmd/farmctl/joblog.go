package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
)

func runJobsLog(c *call) error {
	fs := c.flags()
	follow := fs.Bool("follow", false, "keep printing new output until the job ends")
	fs.BoolVar(follow, "f", false, "short for --follow")
	args, err := c.parse(fs, 1, 1)
	if err != nil {
		return err
	}
	id := args[0]
	if !*follow {
		// The log is text whatever --output says.
		text, err := c.client.JobLog(c.ctx, id)
		if err != nil {
			return err
		}
		_, err = io.WriteString(c.stdout, text)
		return err
	}
	return c.followLog(id)
}

// followLog prints a job's log as it grows, until the job has ended and its
// whole log is printed. While the job runs the farm answers the log's tail
// (the last 64 KiB the heartbeats carried); after, the stored full log.
// Each answer is matched against the one before (logDelta) so that only new
// text is printed.
func (c *call) followLog(id string) error {
	b := backoff{min: c.pollMin, max: c.pollMax}
	var (
		prev     string
		failures int
	)
	for {
		// The job before its log: a job seen ended has its final log stored,
		// so the log read after it is complete.
		job, err := c.client.GetJob(c.ctx, id)
		var text string
		if err == nil {
			text, err = c.client.JobLog(c.ctx, id)
		}
		switch {
		case err == nil:
			failures = 0
		case c.ctx.Err() == nil && client.IsTemporary(err) && failures < maxPollFailures:
			failures++
			fmt.Fprintf(c.stderr, "farmctl: reading the log of job %s: %v (trying again)\n", id, err)
		default:
			return err
		}
		if err == nil {
			delta, skipped := logDelta(prev, text)
			if skipped {
				fmt.Fprintln(c.stderr, "farmctl: [some output went by between two reads, or a new attempt started]")
			}
			if delta != "" {
				if _, err := io.WriteString(c.stdout, delta); err != nil {
					return err
				}
				b.reset()
			}
			prev = text
			if job.Status.Terminal() {
				return nil
			}
		}
		if err := sleep(c.ctx, b.next()); err != nil {
			return err
		}
	}
}

// anchorBytes is how much of the end of the previous read locates it in the next.
const anchorBytes = 1024

// logDelta returns what cur, the log read now, adds to prev, the log read
// before. Both may be windows (tails) of a longer log, or cur the full log
// after prev was a tail. skipped reports that cur could not be placed after
// prev (more output than the tail holds came between the reads, or a new
// attempt restarted the log): then all of cur is new. A log that repeats the
// same kilobyte over and over may be printed with repeats; it is never cut.
func logDelta(prev, cur string) (delta string, skipped bool) {
	if strings.HasPrefix(cur, prev) {
		return cur[len(prev):], false
	}
	anchor := prev
	if len(anchor) > anchorBytes {
		anchor = anchor[len(anchor)-anchorBytes:]
	}
	if i := strings.Index(cur, anchor); i >= 0 {
		return cur[i+len(anchor):], false
	}
	return cur, true
}
