// Package scheduler is the farm's application layer: submitting jobs,
// claiming them under leases, heartbeats, completion, cancel and retry,
// dependency release and follow-on jobs, builder health, the reaper's work,
// queue estimates and resource pools. It holds the rules; a Store holds the
// state and a Doorbell wakes builders.
package scheduler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Doorbell wakes the builders of a pool. Rings are hints: losing or
// duplicating one never loses a job, since builders claim from the Store.
type Doorbell interface {
	Ring(ctx context.Context, pool, jobID string, delay time.Duration) error
}

// LeaseTimer wakes the reaper for one job when its lease is due, so a lost
// builder is noticed at its lease's end rather than at the next scheduled
// sweep (SQS delay messages in AWS). Timers are hints too: the sweep still
// finds every expired lease.
type LeaseTimer interface {
	Arm(ctx context.Context, jobID string, at time.Time) error
}

// Config holds the scheduler's timings and limits. Zero fields take defaults.
type Config struct {
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
	// EventTTL expires history events (default 0: keep for ever).
	EventTTL time.Duration
	// ClaimScan is how many queued candidates one claim considers (default 25).
	ClaimScan int
	// StaleQueueAge: the reaper re-rings a pool whose claimable jobs waited this long (default 2 × Heartbeat).
	StaleQueueAge time.Duration
	// MaxDependents bounds the jobs that may wait for one job (default DefaultMaxDependents).
	MaxDependents int
}

func (c Config) withDefaults() Config {
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
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.ClaimScan <= 0 {
		c.ClaimScan = 25
	}
	if c.StaleQueueAge <= 0 {
		c.StaleQueueAge = 2 * c.Heartbeat
	}
	if c.MaxDependents <= 0 {
		c.MaxDependents = DefaultMaxDependents
	}
	return c
}

// Scheduler runs the farm's rules over a Store.
type Scheduler struct {
	store    Store
	registry *farm.Registry
	bell     Doorbell
	timer    LeaseTimer
	pools    map[string]bool
	poolList []string
	sources  farm.SourcePolicy
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	metrics  io.Writer
}

// Options configure a Scheduler.
type Options struct {
	Store    Store
	Registry *farm.Registry // default: the built-in types
	Doorbell Doorbell       // default: rings nothing (tests)
	// LeaseTimer, when set, is armed for every claim's lease.
	LeaseTimer LeaseTimer
	// Pools are the builder pools the farm serves; jobs routed elsewhere are refused.
	Pools []string
	// Sources is where a submitted job's source may point (the farm's
	// bucket and its incoming/ prefix); the zero policy refuses sources.
	Sources farm.SourcePolicy
	Config  Config
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
	// Metrics receives CloudWatch EMF records (stdout in Lambda): one
	// TimeToStartSeconds per claim, by pool. Nil publishes none.
	Metrics io.Writer
}

// New returns a Scheduler.
func New(o Options) *Scheduler {
	s := &Scheduler{store: o.Store, registry: o.Registry, bell: o.Doorbell, timer: o.LeaseTimer, cfg: o.Config.withDefaults(), now: o.Clock, log: o.Logger, metrics: o.Metrics, pools: map[string]bool{}, sources: o.Sources}
	if s.registry == nil {
		s.registry = farm.DefaultRegistry()
	}
	if s.bell == nil {
		s.bell = silentBell{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, p := range o.Pools {
		if !s.pools[p] {
			s.pools[p] = true
			s.poolList = append(s.poolList, p)
		}
	}
	return s
}

type silentBell struct{}

func (silentBell) Ring(context.Context, string, string, time.Duration) error { return nil }

// Config returns the effective configuration.
func (s *Scheduler) Config() Config { return s.cfg }

// Registry returns the job-type registry.
func (s *Scheduler) Registry() *farm.Registry { return s.registry }

// Pools lists the served builder pools.
func (s *Scheduler) Pools() []string { return append([]string(nil), s.poolList...) }

// Store returns the underlying store (for read paths that need nothing more).
func (s *Scheduler) Store() Store { return s.store }

func (s *Scheduler) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// ring wakes a pool's builders. A failed ring is logged, not returned: the
// job is safe in the store, and the dispatcher or the reaper rings again.
func (s *Scheduler) ring(ctx context.Context, j *farm.Job, delay time.Duration) {
	if err := s.bell.Ring(ctx, j.Pool, j.ID, delay); err != nil {
		s.log.WarnContext(ctx, "doorbell failed; the dispatcher or reaper will ring again", "job_id", j.ID, "pool", j.Pool, "err", err)
	}
}

// armLeaseTimer asks to be woken just after a job's lease is due.
func (s *Scheduler) armLeaseTimer(ctx context.Context, j *farm.Job) {
	if s.timer == nil || j.LeaseExpiresAt == nil {
		return
	}
	if err := s.timer.Arm(ctx, j.ID, j.LeaseExpiresAt.Add(time.Second)); err != nil {
		s.log.WarnContext(ctx, "lease timer not armed; the sweep will find the lease", "job_id", j.ID, "err", err)
	}
}

// eventExpiry is when a history event written now may be dropped.
func (s *Scheduler) eventExpiry(now time.Time) time.Time {
	if s.cfg.EventTTL <= 0 {
		return time.Time{}
	}
	return now.Add(s.cfg.EventTTL)
}

// write commits one job transition with its event.
func (s *Scheduler) write(ctx context.Context, prev, next *farm.Job, ev *farm.JobEvent) error {
	if ev != nil {
		ev.ExpiresAt = s.eventExpiry(ev.At)
	}
	return s.store.Commit(ctx, Tx{Jobs: []JobWrite{{Prev: prev, Next: next, Event: ev}}})
}

// retryOnConflict runs fn again (it re-reads what it needs) while it loses
// write races, a bounded number of times. Conflicts the domain raises (a
// transition that is not allowed) are returned at once: re-reading would not
// change them.
func retryOnConflict(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = fn(); !errors.Is(err, ErrLostRace) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}
