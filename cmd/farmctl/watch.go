package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// waitAndShow waits for a job to end, prints it (unless quiet) and, with
// logs, its log; a job that did not succeed is a *jobOutcomeError, and
// anything else that stops the wait a *waitError (their exit codes differ).
//
// On a terminal (stderr is one, output is a table, not -q) the wait is
// live, like gh run watch: one status line redrawn in place (status,
// elapsed time, queue position and estimated start while queued) and the
// job's log printed above it as it runs. Elsewhere it prints one plain line
// per status change.
func (c *call) waitAndShow(id string, timeout time.Duration, logs, quiet bool) error {
	progress := c.output == outputTable && !quiet
	w := &watcher{call: c, id: id, progress: progress, live: progress && c.isTerminal(c.stderr)}
	final, err := w.run(timeout)
	if err != nil {
		return &waitError{err}
	}
	if !quiet {
		if err := c.showJob(final); err != nil {
			return &waitError{err}
		}
	}
	// A log followed live on the terminal is not printed again there.
	if logs && !(w.followed && c.isTerminal(c.stdout)) {
		if err := c.printFinalLog(final.ID, quiet); err != nil {
			return &waitError{err}
		}
	}
	if final.Status != farm.StatusSucceeded {
		return &jobOutcomeError{job: final}
	}
	return nil
}

// isTerminalFile reports whether w is a terminal (a character device).
func isTerminalFile(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// liveRedraw is how often the live status line is redrawn (its clock ticks).
const liveRedraw = time.Second

// watcher follows one job until it ends.
type watcher struct {
	*call
	id             string
	progress, live bool

	last     *farm.Job
	failures int
	// The live log: the text last read, and a last line not yet complete
	// (printed once it is, so that the status line never cuts it).
	logPrev, partial string
	followed         bool
	lineShown        bool
	frame            int
}

// run polls the job until it is terminal (succeeded, failed, cancelled,
// timed_out) or until timeout (0: no limit).
func (w *watcher) run(timeout time.Duration) (*farm.Job, error) {
	ctx := w.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer w.clearLine()
	b := backoff{min: w.pollMin, max: w.pollMax}
	if w.live {
		// The log is followed while the job runs: poll at least each second.
		b.max = min(b.max, liveRedraw)
	}
	for {
		job, err := w.client.GetJob(ctx, w.id)
		switch {
		case err == nil:
			w.failures = 0
			if w.progress && !w.live && (w.last == nil || job.Status != w.last.Status) {
				fmt.Fprintln(w.stderr, describeStatus(job))
			}
			w.last = job
			if w.live && (job.Status.Active() || job.Status.Terminal() && job.StartedAt != nil) {
				w.followLog(ctx)
			}
			if job.Status.Terminal() {
				w.flushLog()
				return job, nil
			}
		case ctx.Err() != nil:
			return nil, w.waitEnded(ctx, w.id, timeout, w.last)
		case client.IsTemporary(err) && w.failures < maxPollFailures:
			w.failures++
			w.say(fmt.Sprintf("farmctl: polling job %s: %v (trying again)\n", w.id, err))
		default:
			return nil, err
		}
		if err := w.pause(ctx, b.next()); err != nil {
			return nil, w.waitEnded(ctx, w.id, timeout, w.last)
		}
	}
}

// pause sleeps d, redrawing the live status line each second meanwhile.
func (w *watcher) pause(ctx context.Context, d time.Duration) error {
	for {
		w.draw()
		step := d
		if w.live {
			step = min(d, liveRedraw)
		}
		if err := sleep(ctx, step); err != nil {
			return err
		}
		if d -= step; d <= 0 {
			return nil
		}
	}
}

// followLog prints what the job's log gained since the last read. While
// the job runs the farm answers the tail; once it ended, the full log.
func (w *watcher) followLog(ctx context.Context) {
	text, err := w.client.JobLog(ctx, w.id)
	if err != nil {
		return // the next poll tries again; the job is what matters
	}
	delta, skipped := logDelta(w.logPrev, text)
	w.logPrev = text
	if skipped && w.followed {
		w.say("farmctl: [some output went by between two reads, or a new attempt started]\n")
	}
	w.followed = true
	if delta == "" {
		return
	}
	text = w.partial + delta
	cut := strings.LastIndexByte(text, '\n') + 1
	w.partial = text[cut:]
	if cut > 0 {
		w.say(text[:cut])
	}
}

// flushLog prints the last line of the log when it had no newline.
func (w *watcher) flushLog() {
	if w.partial != "" {
		w.say(w.partial + "\n")
		w.partial = ""
	}
}

// say prints text on stderr, above the live status line.
func (w *watcher) say(text string) {
	w.clearLine()
	io.WriteString(w.stderr, text)
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// draw redraws the live status line.
func (w *watcher) draw() {
	if !w.live || w.last == nil {
		return
	}
	w.frame++
	io.WriteString(w.stderr, "\r\x1b[2K"+spinner[w.frame%len(spinner)]+" "+statusLine(w.last, w.now()))
	w.lineShown = true
}

func (w *watcher) clearLine() {
	if w.lineShown {
		io.WriteString(w.stderr, "\r\x1b[2K")
		w.lineShown = false
	}
}

// statusLine is the live line of a job: "job ID queued · 12s · 3rd in
// queue · starts in 40s", "job ID running on b1 · 1m2s".
func statusLine(j *farm.Job, now time.Time) string {
	parts := []string{"job " + j.ID + " " + string(j.Status)}
	if j.Status.Active() && j.Builder != "" {
		parts[0] += " on " + j.Builder
	}
	parts = append(parts, fmtDuration(max(now.Sub(j.CreatedAt), 0).Truncate(time.Second)))
	if j.Status == farm.StatusQueued {
		if j.QueuePosition != nil {
			parts = append(parts, ordinal(*j.QueuePosition)+" in queue")
		}
		if j.EstimatedStartAt != nil {
			parts = append(parts, "starts "+fmtUntil(j.EstimatedStartAt, now))
		}
	}
	if j.Status == farm.StatusRunning && j.Progress != "" {
		parts = append(parts, j.Progress)
	}
	return strings.Join(parts, " · ")
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
