package farm

import (
	"encoding/json"
	"time"
)

// Job is the one permanent record of a job. Its queue entry (the fields that
// put it on a pool's dispatch index or the reaper's lease index) exists only
// while it is queued or running; the adapters derive it from Status.
type Job struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Status      JobStatus       `json:"status"`
	Pool        string          `json:"pool"`
	Score       int64           `json:"score"`
	ScorePinned bool            `json:"score_pinned,omitempty"`
	Priority    int64           `json:"priority"`
	Payload     json.RawMessage `json:"payload"`
	// PayloadRedacted is set on API answers whose payload had secret values
	// replaced for the reader (never stored).
	PayloadRedacted bool       `json:"payload_redacted,omitempty"`
	RequestedBy     string     `json:"requested_by"`
	CreatedAt       time.Time  `json:"created_at"`
	QueuedAt        *time.Time `json:"queued_at,omitempty"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
	DurationSeconds *float64   `json:"duration_seconds,omitempty"`
	Attempts        int        `json:"attempts"`
	// Run numbers every claim of the job, across retries (which reset
	// Attempts): artifacts are kept per run, so a later run never
	// overwrites an earlier one's.
	Run int `json:"run,omitempty"`
	// TimeToStartSeconds is how long the job waited in the queue before its
	// current (or last) run started: from queued_at (created_at) to started_at.
	TimeToStartSeconds *float64 `json:"time_to_start_seconds,omitempty"`
	MaxAttempts        int      `json:"max_attempts"`
	TimeoutSeconds     int      `json:"timeout_seconds"`
	// NotBefore holds a requeued job back (retry backoff): it is queued but not claimable until then.
	NotBefore *time.Time `json:"not_before,omitempty"`
	Builder   string     `json:"builder,omitempty"`
	// ClaimToken fences the current claim. It is a secret shared only with the
	// claiming builder, so it is never part of the job's public JSON.
	ClaimToken     string     `json:"-"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	// ReapAt puts an active job on the reaper's sparse index: when the
	// reaper looks at it next (see ReapAtFor). It trails LeaseExpiresAt and
	// is never after the job's deadline. Internal: not in the job's JSON.
	ReapAt    *time.Time `json:"-"`
	Result    string     `json:"result,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	Error     string     `json:"error,omitempty"`
	Artifacts []Artifact `json:"artifacts,omitempty"`
	LogKey    string     `json:"log_key,omitempty"`
	// LogInline is the stored log of a finished job kept in its own item:
	// the whole log when LogComplete (a small log the completion carried),
	// else the final part the builder had not sent with a heartbeat (the
	// rest is in the job's log chunks).
	LogInline   string `json:"-"`
	LogComplete bool   `json:"-"`
	// LogTail is the log tail jobs written before log chunks kept on the
	// item (heartbeats no longer append to it; read for old jobs only).
	LogTail  string `json:"-"`
	Progress string `json:"progress,omitempty"`
	// BuilderFailures counts the builders that were lost while running this job.
	BuilderFailures int      `json:"builder_failures,omitempty"`
	ParentID        string   `json:"parent_id,omitempty"`
	DependsOn       []string `json:"depends_on,omitempty"`
	IdempotencyKey  string   `json:"idempotency_key,omitempty"`
	// FollowOnsCreated is set once the follow-on jobs of a succeeded job exist.
	FollowOnsCreated bool       `json:"follow_ons_created,omitempty"`
	CancelRequested  bool       `json:"cancel_requested,omitempty"`
	EstimatedStartAt *time.Time `json:"estimated_start_at,omitempty"`
	// QueuePosition is where a queued job stands in its pool's dispatch
	// order (1: next). Like EstimatedStartAt it is computed when the job is
	// read, never stored.
	QueuePosition *int `json:"queue_position,omitempty"`
	// ExpiresAt is when a finished job's retention ends: the store may drop
	// it and its history from then on (nil while it is not finished; set by
	// the transition that ends it, from Policy.JobRetention).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// WaitingFor lists, for a waiting job, the dependencies that have not
	// ended yet. Like EstimatedStartAt it is computed when the job is read,
	// never stored.
	WaitingFor []string `json:"waiting_for,omitempty"`
	// Version increases by one with every write; writes are conditional on it.
	Version int64 `json:"version"`
	// History is the job's history, oldest first, kept in the job's own
	// record: a state change and its event are one write, never apart.
	// Every transition appends its event here (GET /v1/jobs/{id}/events
	// shows it; the job's JSON does not).
	History []JobEvent `json:"-"`
	// DeclaresFollowOns is set at admission when the job's type and
	// arguments name follow-on jobs; HasDependents once a job is registered
	// as waiting for this one. Both let what follows a job's end be decided
	// from the job alone: a job with neither costs no read or write after it
	// ends (and the stream dispatcher is not even invoked for it).
	DeclaresFollowOns bool `json:"-"`
	HasDependents     bool `json:"-"`
}

// Artifact is a file a builder uploaded for a job, in one run of it.
type Artifact struct {
	Name   string `json:"name"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the content, as the builder computed it
	// while uploading ("" when it was not given).
	SHA256 string `json:"sha256,omitempty"`
	// Attempt is the run of the job that uploaded it (Job.Run).
	Attempt int `json:"attempt"`
	// VersionID pins the object version on a versioned bucket.
	VersionID string `json:"version_id,omitempty"`
}

// MaxKeptArtifacts bounds the artifacts a job record keeps over all its
// runs; the oldest runs' entries are dropped first (their objects stay in
// the bucket until its lifecycle rules expire them).
const MaxKeptArtifacts = 200

// mergeArtifacts returns the artifacts of earlier runs followed by run's
// own, numbered run (they replace any the record had for that run), keeping at
// most MaxKeptArtifacts, the newest.
func mergeArtifacts(kept []Artifact, run int, fresh []Artifact) []Artifact {
	out := make([]Artifact, 0, len(kept)+len(fresh))
	for _, a := range kept {
		if a.Attempt != run {
			out = append(out, a)
		}
	}
	for _, a := range fresh {
		a.Attempt = run
		out = append(out, a)
	}
	if len(out) > MaxKeptArtifacts {
		out = out[len(out)-MaxKeptArtifacts:]
	}
	return out
}

// LatestArtifact returns the artifact called name of the latest run that
// has one, or of run attempt when attempt > 0.
func (j *Job) LatestArtifact(name string, attempt int) (Artifact, bool) {
	var found Artifact
	ok := false
	for _, a := range j.Artifacts {
		if a.Name != name || (attempt > 0 && a.Attempt != attempt) {
			continue
		}
		if !ok || a.Attempt >= found.Attempt {
			found, ok = a, true
		}
	}
	return found, ok
}

// JobEvent is one entry of a job's append-only history.
type JobEvent struct {
	JobID  string    `json:"job_id"`
	Seq    string    `json:"seq"`
	At     time.Time `json:"at"`
	From   JobStatus `json:"from,omitempty"`
	To     JobStatus `json:"to"`
	Actor  string    `json:"actor"`
	Detail string    `json:"detail,omitempty"`
	// ExpiresAt is when the store may drop the event (zero: keep).
	ExpiresAt time.Time `json:"-"`
}

// Record appends ev to the job's history (once: an event already there,
// the same sequence, is not appended again) and returns the job.
func (j *Job) Record(ev *JobEvent) *Job {
	if ev == nil {
		return j
	}
	if n := len(j.History); n > 0 && j.History[n-1].Seq == ev.Seq {
		return j
	}
	e := *ev
	// An event lives as long as the job that keeps it.
	e.JobID, e.ExpiresAt = j.ID, time.Time{}
	j.History = append(j.History, e)
	return j
}

// Clone returns a deep copy, so a transition can be computed without touching
// the stored original.
func (j *Job) Clone() *Job {
	if j == nil {
		return nil
	}
	c := *j
	c.Payload = append(json.RawMessage(nil), j.Payload...)
	c.Artifacts = append([]Artifact(nil), j.Artifacts...)
	c.DependsOn = append([]string(nil), j.DependsOn...)
	c.History = append([]JobEvent(nil), j.History...)
	c.WaitingFor = append([]string(nil), j.WaitingFor...)
	c.QueuedAt = cloneTime(j.QueuedAt)
	c.StartedAt = cloneTime(j.StartedAt)
	c.FinishedAt = cloneTime(j.FinishedAt)
	c.NotBefore = cloneTime(j.NotBefore)
	c.LeaseExpiresAt = cloneTime(j.LeaseExpiresAt)
	c.ReapAt = cloneTime(j.ReapAt)
	c.EstimatedStartAt = cloneTime(j.EstimatedStartAt)
	c.ExpiresAt = cloneTime(j.ExpiresAt)
	c.DurationSeconds = cloneFloat(j.DurationSeconds)
	c.TimeToStartSeconds = cloneFloat(j.TimeToStartSeconds)
	if j.QueuePosition != nil {
		p := *j.QueuePosition
		c.QueuePosition = &p
	}
	if j.ExitCode != nil {
		e := *j.ExitCode
		c.ExitCode = &e
	}
	return &c
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// TimePtr returns a pointer to t, truncated to milliseconds so that values
// round-trip unchanged through every store.
func TimePtr(t time.Time) *time.Time {
	t = t.UTC().Truncate(time.Millisecond)
	return &t
}
