package farm

import (
	"fmt"
	"time"
)

// The methods in this file compute a job's next state. Each returns a changed
// copy and the history event to append; the stored job is untouched until a
// store writes the copy conditionally on the original's version.

// SeqFor returns the history sequence of the write that produces version v.
// One write, one version, one event: sequences are unique and ordered.
func SeqFor(version int64) string { return fmt.Sprintf("%012d", version) }

func (j *Job) next(to JobStatus, actor, detail string, now time.Time) (*Job, *JobEvent, error) {
	if err := CheckTransition(j.Status, to); err != nil {
		return nil, nil, err
	}
	n := j.Clone()
	n.Status = to
	n.Version = j.Version + 1
	ev := &JobEvent{JobID: j.ID, Seq: SeqFor(n.Version), At: now.UTC().Truncate(time.Millisecond), From: j.Status, To: to, Actor: actor, Detail: detail}
	n.Record(ev)
	if to.Terminal() {
		n.FinishedAt = TimePtr(now)
		if n.StartedAt != nil {
			n.DurationSeconds = Duration(n.StartedAt, n.FinishedAt)
		}
		n.ClaimToken, n.LeaseExpiresAt, n.ReapAt = "", nil, nil
	}
	if to == StatusQueued {
		n.QueuedAt = TimePtr(now)
		n.Builder, n.ClaimToken, n.LeaseExpiresAt, n.ReapAt = "", "", nil, nil
	}
	return n, ev, nil
}

// Touched returns a copy with the version bumped and no state change, for
// writes that carry no history event (lease renewals, log appends).
func (j *Job) Touched() *Job {
	n := j.Clone()
	n.Version++
	return n
}

// Claimable reports whether a builder may claim the job now.
func (j *Job) Claimable(now time.Time) bool {
	return j.Status == StatusQueued && (j.NotBefore == nil || !now.Before(*j.NotBefore))
}

// Claim gives a queued job to builder under a new claim token and lease.
func (j *Job) Claim(builder, token string, now time.Time, lease time.Duration) (*Job, *JobEvent, error) {
	if !j.Claimable(now) {
		if j.Status == StatusQueued {
			return nil, nil, Errorf(EConflict, "job %s is held back until %s", j.ID, j.NotBefore.Format(time.RFC3339))
		}
		return nil, nil, Errorf(EConflict, "job %s is %s, not queued", j.ID, j.Status)
	}
	n, ev, err := j.next(StatusRunning, "builder:"+builder, fmt.Sprintf("attempt %d", j.Attempts+1), now)
	if err != nil {
		return nil, nil, err
	}
	n.Attempts++
	n.Run = j.Run + 1
	n.Builder = builder
	n.ClaimToken = token
	n.StartedAt = TimePtr(now)
	n.TimeToStartSeconds = j.waitedSince(*n.StartedAt)
	n.LeaseExpiresAt = TimePtr(now.Add(lease))
	n.ReapAt = n.reapAt(nil, now, lease)
	n.NotBefore = nil
	n.FinishedAt, n.DurationSeconds, n.Result, n.Error, n.ExitCode = nil, nil, "", "", nil
	n.LogTail, n.Progress = "", ""
	n.LogKey, n.LogInline, n.LogComplete = "", "", false
	return n, ev, nil
}

// waitedSince is how long the job had waited in the queue when it started
// at start: since it was (last) queued, or created.
func (j *Job) waitedSince(start time.Time) *float64 {
	since := j.CreatedAt
	if j.QueuedAt != nil {
		since = *j.QueuedAt
	}
	// Whole milliseconds, as every time the farm keeps.
	s := max(float64(start.Sub(since).Milliseconds())/1000, 0)
	return &s
}

// CheckClaim returns a conflict error unless token is the job's current claim.
func (j *Job) CheckClaim(token string) error {
	if !j.Status.Active() {
		return Errorf(EConflict, "job %s is %s: the claim is no longer valid", j.ID, j.Status)
	}
	if token == "" || token != j.ClaimToken {
		return Errorf(EConflict, "stale or foreign claim token for job %s", j.ID)
	}
	return nil
}

// MaxLogTail bounds the log tail kept on the job record (DynamoDB items are
// limited to 400 KB; the full log goes to object storage at completion).
const MaxLogTail = 64 << 10

// Renew extends the lease of a running job and appends to its log tail.
func (j *Job) Renew(token string, now time.Time, lease time.Duration, logAppend, progress string) (*Job, error) {
	if err := j.CheckClaim(token); err != nil {
		return nil, err
	}
	n := j.Touched()
	n.LeaseExpiresAt = TimePtr(now.Add(lease))
	n.ReapAt = n.reapAt(j.ReapAt, now, lease)
	n.LogTail = boundTail(j.LogTail+logAppend, MaxLogTail)
	if progress != "" {
		n.Progress = progress
	}
	return n, nil
}

// reapAt is when the reaper looks at an active job next, given the
// reap_at it has (cur, nil for none) and a lease just renewed at now: the
// lease's expiry, moved forward only once cur is within half a lease of
// now (so that most heartbeats leave it, and the reaper's index, as they
// are), and never after the job's deadline. It never passes the lease's
// expiry: a job is not looked at later than its lease ends, and a job
// looked at before is left alone (its lease still runs).
func (j *Job) reapAt(cur *time.Time, now time.Time, lease time.Duration) *time.Time {
	at := *j.LeaseExpiresAt
	if cur != nil && cur.Sub(now) >= lease/2 && !cur.After(at) {
		at = *cur
	}
	if d, ok := j.Deadline(); ok && d.Before(at) {
		at = d
	}
	return TimePtr(at)
}

func boundTail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	// Do not start in the middle of a UTF-8 sequence.
	for i := 0; i < len(s) && i < 4; i++ {
		if s[i]&0xC0 != 0x80 {
			return s[i:]
		}
	}
	return s
}

// Completion is what a builder reports when it stops running a job.
type Completion struct {
	ClaimToken string
	Result     JobStatus // succeeded, failed or cancelled
	Error      string
	ExitCode   *int
	Artifacts  []Artifact
	// LogKey names the full log the builder uploaded (object storage).
	LogKey string
	// LogInline is stored on the job: the whole log when LogComplete,
	// else the final part no heartbeat carried.
	LogInline   string
	LogComplete bool
}

// Complete records a builder's result, fenced by its claim token. A job that
// was being cancelled ends cancelled unless the builder finished it anyway.
func (j *Job) Complete(builder string, c Completion, now time.Time) (*Job, *JobEvent, error) {
	if err := j.CheckClaim(c.ClaimToken); err != nil {
		return nil, nil, err
	}
	switch c.Result {
	case StatusSucceeded, StatusFailed:
	case StatusCancelled:
		if j.Status != StatusCancelling {
			return nil, nil, FieldError("result", "cancelled is only a result for a job being cancelled")
		}
	default:
		return nil, nil, FieldError("result", "must be succeeded or failed, not %q", c.Result)
	}
	n, ev, err := j.next(c.Result, "builder:"+builder, completionDetail(c), now)
	if err != nil {
		return nil, nil, err
	}
	n.Result = string(c.Result)
	n.Error = c.Error
	n.ExitCode = c.ExitCode
	// The finished job keeps the token of the claim that finished it (it
	// fences nothing any more: only an active job's token does), so that
	// the builder's retry of this completion is recognised (Recorded).
	n.ClaimToken = c.ClaimToken
	if c.Artifacts != nil {
		n.Artifacts = mergeArtifacts(j.Artifacts, j.Run, c.Artifacts)
	}
	n.LogKey, n.LogInline, n.LogComplete = c.LogKey, c.LogInline, c.LogComplete && c.LogKey == ""
	return n, ev, nil
}

// Recorded reports whether the job already holds completion c by builder:
// the builder's retry of a completion whose answer it never got (a lost
// connection, the API's timeout) finds its own result and is answered
// with it, not with a conflict.
func (j *Job) Recorded(builder string, c Completion) bool {
	return j.Status.Terminal() && j.Builder == builder && c.ClaimToken != "" && j.ClaimToken == c.ClaimToken &&
		j.Result == string(c.Result) && j.Error == c.Error
}

// Cancel asks for a job to stop: a job not yet running is cancelled at once, a
// running one becomes cancelling until its builder stops. Asking again while
// cancelling is a no-op (nil job, no error).
func (j *Job) Cancel(actor string, now time.Time) (*Job, *JobEvent, error) {
	switch j.Status {
	case StatusWaiting, StatusQueued:
		n, ev, err := j.next(StatusCancelled, actor, "cancelled before it ran", now)
		if err == nil {
			n.Result = string(StatusCancelled)
			n.CancelRequested = true
		}
		return n, ev, err
	case StatusRunning:
		n, ev, err := j.next(StatusCancelling, actor, "cancel requested; waiting for builder "+j.Builder, now)
		if err == nil {
			n.CancelRequested = true
		}
		return n, ev, err
	case StatusCancelling:
		return nil, nil, nil
	}
	return nil, nil, Errorf(EConflict, "job %s is already %s", j.ID, j.Status)
}

// Retry puts a failed, cancelled or timed-out job back in the queue with its
// attempts reset.
func (j *Job) Retry(actor string, now time.Time) (*Job, *JobEvent, error) {
	if !j.Status.Terminal() || j.Status == StatusSucceeded {
		return nil, nil, Errorf(EConflict, "job %s is %s; only failed, cancelled or timed_out jobs can be retried", j.ID, j.Status)
	}
	n, ev, err := j.next(StatusQueued, actor, "retried", now)
	if err != nil {
		return nil, nil, err
	}
	n.Attempts, n.BuilderFailures = 0, 0
	n.FinishedAt, n.DurationSeconds, n.StartedAt, n.TimeToStartSeconds = nil, nil, nil, nil
	n.Result, n.Error, n.ExitCode, n.NotBefore, n.CancelRequested = "", "", nil, nil, false
	return n, ev, nil
}

// Backoff is the hold-back before a requeued job may run again: it doubles
// with each attempt, from base up to max.
func Backoff(attempts int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// LeaseLost handles a job whose builder stopped renewing its lease: back to
// the queue (after a backoff) while attempts remain and it has not killed too
// many builders, otherwise timed_out. A job that was being cancelled ends
// cancelled.
func (j *Job) LeaseLost(now time.Time, backoff time.Duration, maxBuilderFailures int) (*Job, *JobEvent, error) {
	if !j.Status.Active() {
		return nil, nil, Errorf(EConflict, "job %s is %s: no lease to lose", j.ID, j.Status)
	}
	if j.LeaseExpiresAt != nil && now.Before(*j.LeaseExpiresAt) {
		return nil, nil, Errorf(EConflict, "job %s lease has not expired", j.ID)
	}
	return j.builderLost("reaper", fmt.Sprintf("lease expired: builder %s lost", j.Builder), now, backoff, maxBuilderFailures)
}

// Deadline is when a running job exceeds its own timeout.
func (j *Job) Deadline() (time.Time, bool) {
	if !j.Status.Active() || j.StartedAt == nil || j.TimeoutSeconds <= 0 {
		return time.Time{}, false
	}
	return j.StartedAt.Add(time.Duration(j.TimeoutSeconds) * time.Second), true
}

// TimeOut ends a job that ran past its own timeout. Its builder learns of it
// on its next heartbeat (a cancel directive) and its late result is refused.
func (j *Job) TimeOut(now time.Time) (*Job, *JobEvent, error) {
	deadline, ok := j.Deadline()
	if !ok || now.Before(deadline) {
		return nil, nil, Errorf(EConflict, "job %s has not exceeded its timeout", j.ID)
	}
	n, ev, err := j.next(StatusTimedOut, "reaper", fmt.Sprintf("ran longer than its timeout of %ds on %s", j.TimeoutSeconds, j.Builder), now)
	if err == nil {
		n.Result, n.Error = string(StatusTimedOut), fmt.Sprintf("timeout of %ds exceeded", j.TimeoutSeconds)
	}
	return n, ev, err
}

// Release queues a waiting job whose dependencies all succeeded.
func (j *Job) Release(now time.Time) (*Job, *JobEvent, error) {
	if j.Status != StatusWaiting {
		return nil, nil, Errorf(EConflict, "job %s is %s, not waiting", j.ID, j.Status)
	}
	return j.next(StatusQueued, "dispatcher", "all dependencies succeeded", now)
}

// PinScore sets the score by hand; the type's own score no longer applies.
func (j *Job) PinScore(score int64, actor string, now time.Time) (*Job, *JobEvent, error) {
	n := j.Touched()
	n.Score, n.ScorePinned = score, true
	ev := &JobEvent{JobID: j.ID, Seq: SeqFor(n.Version), At: now.UTC().Truncate(time.Millisecond), From: j.Status, To: j.Status, Actor: actor, Detail: fmt.Sprintf("score pinned to %d (was %d)", score, j.Score)}
	n.Record(ev)
	return n, ev, nil
}

// Unclaim undoes a claim the farm could not honour (the builder turned out
// to have no free slot): the job goes back to the queue as it was, its
// attempt not counted.
func (j *Job) Unclaim(token, reason string, now time.Time) (*Job, *JobEvent, error) {
	if j.Status != StatusRunning || j.ClaimToken != token {
		return nil, nil, Errorf(EConflict, "job %s is no longer held by that claim", j.ID)
	}
	n, ev, err := j.next(StatusQueued, "builder:"+j.Builder, "claim undone: "+reason, now)
	if err != nil {
		return nil, nil, err
	}
	n.Attempts = max(j.Attempts-1, 0)
	n.Run = max(j.Run-1, 0)
	n.StartedAt, n.TimeToStartSeconds = nil, nil
	return n, ev, nil
}
