package farm

import "time"

// Presumed is what a builder knows of a job it runs without reading it:
// its claim token, and the version and run its claim answer (or its last
// heartbeat answer) gave. A completion sent with it can be recorded in
// one conditional write that asserts it (CompletionPatch): no read.
type Presumed struct {
	ClaimToken string
	Version    int64
	Run        int
}

// Known reports whether the presumption says enough to write on it.
func (p Presumed) Known() bool { return p.ClaimToken != "" && p.Version > 0 && p.Run > 0 }

// CompletionPatch is a completion written as a change to the stored job
// rather than as its whole next image: what Job.Complete would do to the
// job as presumed (running under the presumed claim token, version and
// run, held by Builder), computed without the job. A store applies it
// conditionally on the presumption (Applies); where the presumption does
// not hold the caller reads the job and decides as Job.Complete does.
//
// Fields it sets: Status, Version, FinishedAt, Result, Error, ExitCode,
// LogKey, LogInline, LogComplete, ExpiresAt (the writer's, from its
// policy); the history Event appended; this run's Artifacts appended
// after the kept ones (a running job has none of its own run yet: only
// its run's completion records them). Fields it removes: LeaseExpiresAt,
// ReapAt (and with them the job's place on the reap index). The claim
// token stays (Job.Recorded recognises a retry by it). DurationSeconds
// follows from StartedAt and FinishedAt (Duration), so it needs no value
// from the job.
type CompletionPatch struct {
	ID       string
	Builder  string
	Presumed Presumed

	Status      JobStatus
	Version     int64
	FinishedAt  time.Time
	Result      string
	Error       string
	ExitCode    *int
	Artifacts   []Artifact
	LogKey      string
	LogInline   string
	LogComplete bool
	Event       JobEvent
	ExpiresAt   *time.Time
}

// CompleteAsPresumed is Job.Complete for job id as presumed p, held by
// builder: the completion c as a patch. It refuses what Complete refuses
// of a running job (a result that is not succeeded or failed).
func CompleteAsPresumed(id, builder string, p Presumed, c Completion, now time.Time) (*CompletionPatch, error) {
	if !p.Known() || c.ClaimToken != p.ClaimToken {
		return nil, Errorf(EInvalid, "the completion of job %s presumes no claim it carries", id)
	}
	switch c.Result {
	case StatusSucceeded, StatusFailed:
	case StatusCancelled:
		return nil, FieldError("result", "cancelled is only a result for a job being cancelled")
	default:
		return nil, FieldError("result", "must be succeeded or failed, not %q", c.Result)
	}
	at := TimePtr(now)
	patch := &CompletionPatch{
		ID: id, Builder: builder, Presumed: p,
		Status: c.Result, Version: p.Version + 1, FinishedAt: *at,
		Result: string(c.Result), Error: c.Error, ExitCode: c.ExitCode,
		LogKey: c.LogKey, LogInline: c.LogInline, LogComplete: c.LogComplete && c.LogKey == "",
		Event: JobEvent{JobID: id, Seq: SeqFor(p.Version + 1), At: *at, From: StatusRunning, To: c.Result,
			Actor: "builder:" + builder, Detail: completionDetail(c)},
	}
	for _, a := range c.Artifacts {
		a.Attempt = p.Run
		patch.Artifacts = append(patch.Artifacts, a)
	}
	return patch, nil
}

// completionDetail is the history detail of a completion: its error, if any.
func completionDetail(c Completion) string {
	// The event's To is the result already; its detail is the error, if any.
	return c.Error
}

// Applies reports whether j is the job the patch presumes: the condition a
// store asserts when it applies the patch. (Artifacts: the patch appends,
// so the job must keep room for them under MaxKeptArtifacts; beyond that
// Job.Complete drops the oldest, which needs the job.)
func (p *CompletionPatch) Applies(j *Job) bool {
	return j != nil && j.ID == p.ID && j.Status == StatusRunning && j.Builder == p.Builder &&
		j.ClaimToken == p.Presumed.ClaimToken && j.Version == p.Presumed.Version && j.Run == p.Presumed.Run &&
		len(j.Artifacts)+len(p.Artifacts) <= MaxKeptArtifacts
}

// Apply returns j with the patch applied (j must satisfy Applies): the
// reference a store's own application of the patch is held to.
func (p *CompletionPatch) Apply(j *Job) *Job {
	n := j.Clone()
	n.Status, n.Version = p.Status, p.Version
	n.FinishedAt = TimePtr(p.FinishedAt)
	n.DurationSeconds = Duration(n.StartedAt, n.FinishedAt)
	n.Result, n.Error, n.ExitCode = p.Result, p.Error, cloneInt(p.ExitCode)
	n.LogKey, n.LogInline, n.LogComplete = p.LogKey, p.LogInline, p.LogComplete
	n.LeaseExpiresAt, n.ReapAt = nil, nil
	n.ExpiresAt = cloneTime(p.ExpiresAt)
	if len(p.Artifacts) > 0 {
		n.Artifacts = append(n.Artifacts, p.Artifacts...)
	}
	return n.Record(&p.Event)
}

// Duration is how long a run took, from its start to its end (nil unless
// both are known): what a finished job's DurationSeconds is, so that a
// store can derive it rather than keep it.
func Duration(started, finished *time.Time) *float64 {
	if started == nil || finished == nil {
		return nil
	}
	d := finished.Sub(*started).Seconds()
	return &d
}

func cloneInt(i *int) *int {
	if i == nil {
		return nil
	}
	c := *i
	return &c
}
