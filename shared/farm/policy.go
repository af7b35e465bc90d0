package farm

import "time"

// DefaultMaxDependents bounds the jobs that may wait for one job
// (Policy.MaxDependents).
const DefaultMaxDependents = 1000

// Policy holds the farm's timings and limits: how often builders
// heartbeat and how long their leases live, how requeues back off, whom
// failures are blamed on, and how long records are kept. Every service of
// the farm reads its part of one Policy. Zero fields take defaults
// (WithDefaults).
type Policy struct {
	// Heartbeat is how often builders heartbeat (default 10 s).
	Heartbeat time.Duration
	// Lease is how long a claim lives without a heartbeat (default 3 × Heartbeat).
	Lease time.Duration
	// RequeueBackoff is the first hold-back of a job requeued after its builder
	// was lost; it doubles per attempt up to MaxRequeueBackoff.
	RequeueBackoff    time.Duration
	MaxRequeueBackoff time.Duration
	// JobMaxBuilderFailures fails a job that lost this many builders (default 3).
	JobMaxBuilderFailures int
	// BuilderMaxFailures disables a builder after this many consecutive failures (default 5).
	BuilderMaxFailures int
	// IdempotencyTTL is how long idempotency keys are remembered (default 24 h).
	IdempotencyTTL time.Duration
	// JobRetention is how long a finished job (succeeded, failed,
	// cancelled, timed out) is kept, with its history, log and artifacts
	// (default DefaultJobRetention).
	JobRetention time.Duration
	// EventTTL expires history events after they are written (default
	// JobRetention + MaxJobLife: a job's history outlives the job unless
	// it waited and ran longer than that).
	EventTTL time.Duration
	// ClaimScan is how many queued candidates one claim reads (default
	// DefaultClaimScan).
	ClaimScan int
	// StaleQueueAge: the reaper re-rings a pool whose claimable jobs waited this long (default 2 × Heartbeat).
	StaleQueueAge time.Duration
	// MaxDependents bounds the jobs that may wait for one job (default DefaultMaxDependents).
	MaxDependents int
}

// WithDefaults returns the policy with its zero fields set to their defaults.
func (c Policy) WithDefaults() Policy {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 3 * c.Heartbeat
	}
	if c.RequeueBackoff <= 0 {
		c.RequeueBackoff = 5 * time.Second
	}
	if c.MaxRequeueBackoff <= 0 {
		c.MaxRequeueBackoff = 5 * time.Minute
	}
	if c.JobMaxBuilderFailures <= 0 {
		c.JobMaxBuilderFailures = 3
	}
	if c.BuilderMaxFailures <= 0 {
		c.BuilderMaxFailures = 5
	}
	if c.JobRetention <= 0 {
		c.JobRetention = DefaultJobRetention
	}
	if c.EventTTL <= 0 {
		c.EventTTL = c.JobRetention + MaxJobLife
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.ClaimScan <= 0 {
		c.ClaimScan = DefaultClaimScan
	}
	if c.StaleQueueAge <= 0 {
		c.StaleQueueAge = 2 * c.Heartbeat
	}
	if c.MaxDependents <= 0 {
		c.MaxDependents = DefaultMaxDependents
	}
	return c
}

// DefaultClaimScan is how many queued candidates a claim reads by default.
// Each is a whole job (the dispatch index projects all of it: 0.3 to 0.8
// KB for the bench's jobs), so the page is what a claim's query costs, per
// 4 KB read, and what an emulator spends most of a query on: 4 such jobs
// take one read (the bench's like-for-like floor reads 4 too). Claims of
// one API process never race each other for a candidate (one moves past
// what another is writing, claims.inFlight); claimers in different
// processes that lose the head move on to the next candidate on their
// page, so up to 3 racing for it still find a job on the page they read
// (past that a claim reads again, 3 times at most, and builders claim on
// their next doorbell). A claim whose page is full says more may be
// queued (Claim.MoreQueued), so a longer queue behind the page is never
// hidden from the builder.
const DefaultClaimScan = 4

// DefaultJobRetention is how long finished jobs are kept unless the
// policy says otherwise.
const DefaultJobRetention = 90 * 24 * time.Hour

// MaxJobLife is the margin that a job's history and objects are kept
// beyond its retention (from when they were written rather than from the
// job's end): the longest timeout a job may have.
const MaxJobLife = 7 * 24 * time.Hour

// JobExpiry is when job's retention ends: JobRetention after it finished
// (to the second), or nil while it has not.
func (c Policy) JobExpiry(j *Job) *time.Time {
	if !j.Status.Terminal() || j.FinishedAt == nil || c.JobRetention <= 0 {
		return nil
	}
	// Whole seconds, rounded up: DynamoDB's TTL attribute holds seconds.
	at := j.FinishedAt.Add(c.JobRetention)
	if t := at.Truncate(time.Second); t.Before(at) {
		at = t.Add(time.Second)
	}
	return TimePtr(at)
}

// EventExpiry is when a history event written at at may be dropped (zero:
// never).
func (c Policy) EventExpiry(at time.Time) time.Time {
	if c.EventTTL <= 0 {
		return time.Time{}
	}
	return at.Add(c.EventTTL)
}
