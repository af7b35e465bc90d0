package farm

import (
	"fmt"
	"time"
)

// builderLost ends a job's current run because its builder is gone (actor
// noticed; lost says how: its lease expired, it restarted): back to the queue, after
// backoff, while attempts remain and the job has not now lost too many
// builders, otherwise timed_out or failed. A job that was being cancelled
// ends cancelled.
func (j *Job) builderLost(actor, lost string, now time.Time, backoff time.Duration, maxBuilderFailures int) (*Job, *JobEvent, error) {
	if j.Status == StatusCancelling {
		n, ev, err := j.next(StatusCancelled, actor, lost+" while cancelling", now)
		if err == nil {
			n.Result = string(StatusCancelled)
		}
		return n, ev, err
	}
	failures := j.BuilderFailures + 1
	switch {
	case maxBuilderFailures > 0 && failures >= maxBuilderFailures:
		n, ev, err := j.next(StatusFailed, actor, fmt.Sprintf("%s; the job has now lost %d builders and is failed", lost, failures), now)
		if err == nil {
			n.BuilderFailures, n.Result, n.Error = failures, string(StatusFailed), fmt.Sprintf("job lost %d builders", failures)
		}
		return n, ev, err
	case j.Attempts >= j.MaxAttempts:
		n, ev, err := j.next(StatusTimedOut, actor, fmt.Sprintf("%s; %d of %d attempts used", lost, j.Attempts, j.MaxAttempts), now)
		if err == nil {
			n.BuilderFailures, n.Result, n.Error = failures, string(StatusTimedOut), "builder lost on the last attempt"
		}
		return n, ev, err
	}
	detail := fmt.Sprintf("%s; requeued (attempt %d of %d)", lost, j.Attempts, j.MaxAttempts)
	if backoff > 0 {
		detail += ", held back " + backoff.String()
	}
	n, ev, err := j.next(StatusQueued, actor, detail, now)
	if err == nil {
		n.BuilderFailures = failures
		if backoff > 0 {
			n.NotBefore = TimePtr(now.Add(backoff))
		}
	}
	return n, ev, err
}
