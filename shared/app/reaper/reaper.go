// Package reaper is the farm's recovery: expired leases (the builder is
// lost: requeue the job or end it, blame the side that fails more), jobs
// past their own timeout, builders that stopped heartbeating, waiting jobs
// whose dependencies ended, queues whose doorbells were lost, and resource
// leases that ran out. A pass runs on a schedule; between passes, while
// jobs run, Sweep looks at the reap index alone every few seconds
// (runtime/reaperfn), so a lost builder is noticed soon after its lease.
package reaper

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service runs reaper passes.
type Service struct {
	store     Store
	builders  Builders
	follow    FollowUp
	resources Resources
	bell      Doorbell
	pools     farm.Pools
	policy    farm.Policy
	jobs      store.JobWriter
	log       *slog.Logger
}

// Options configure a Service.
type Options struct {
	Store     Store
	Builders  Builders
	FollowUp  FollowUp
	Resources Resources
	Doorbell  Doorbell // nil rings nothing (tests)
	// Pools are the builder pools the farm serves (their queues are checked).
	Pools  farm.Pools
	Policy farm.Policy
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, builders: o.Builders, follow: o.FollowUp, resources: o.Resources, bell: o.Doorbell,
		pools: o.Pools, policy: o.Policy.WithDefaults(), log: o.Logger}
	if s.bell == nil {
		s.bell = silentBell{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	s.jobs = store.JobWriter{Store: o.Store, Policy: s.policy, Clock: clock}
	return s
}

type silentBell struct{}

func (silentBell) Ring(context.Context, string, string, time.Duration) error { return nil }

// Lease is how long a claim lives without a heartbeat.
func (s *Service) Lease() time.Duration { return s.policy.Lease }

// Report says what one reaper pass did.
type Report struct {
	LeasesExpired    int
	TimedOut         int
	BuildersLost     int
	BuildersDisabled int
	WaitingChecked   int
	PoolsRung        []string
	ResourcesExpired int
	Pools            []PoolStat
	// Running: a job was still running at the end of the pass (the reaper
	// Lambda then keeps sweeping; see runtime/reaperfn).
	Running bool
}

// PoolStat is a pool's queue as the reaper saw it (for metrics and alarms).
type PoolStat struct {
	Pool             string
	Queued           int
	OldestAgeSeconds float64
}

// Batch bounds the work of one pass; the next pass takes the rest.
const Batch = 200

// Reap does one pass: expired leases, jobs past their timeout, builders
// that stopped heartbeating, waiting jobs whose dependencies finished,
// queues whose doorbells were lost, and resource leases that ran out.
func (s *Service) Reap(ctx context.Context) (*Report, error) {
	rep := &Report{}
	var errs []error
	now := s.jobs.Now()

	due, err := s.sweep(ctx, now, rep)
	errs = append(errs, due...)
	errs = append(errs, err)
	lost, err := s.builders.MarkLost(ctx)
	errs = append(errs, err)
	rep.BuildersLost = lost

	waiting, err := s.store.ListJobs(ctx, store.JobFilter{Status: farm.StatusWaiting, Limit: Batch})
	errs = append(errs, err)
	if waiting != nil {
		for _, j := range waiting.Jobs {
			errs = append(errs, s.follow.EvaluateWaiting(ctx, j.ID))
			rep.WaitingChecked++
		}
	}
	for _, pool := range s.pools.List() {
		stat, rang, err := s.checkQueue(ctx, pool)
		errs = append(errs, err)
		rep.Pools = append(rep.Pools, stat)
		if rang {
			rep.PoolsRung = append(rep.PoolsRung, pool)
		}
	}
	n, err := s.resources.ExpireLeases(ctx, Batch)
	errs = append(errs, err)
	rep.ResourcesExpired = n
	active, err := s.store.ActiveJobs(ctx, "", 1)
	errs = append(errs, err)
	rep.Running = len(active) > 0
	return rep, errors.Join(errs...)
}

// sweep handles the jobs due on the reap index at now: an expired lease,
// a passed deadline, or neither yet (reap_at trails the lease: the job is
// left alone until its lease runs out). It returns the errors of the jobs
// it handled, and the index read's.
func (s *Service) sweep(ctx context.Context, now time.Time, rep *Report) ([]error, error) {
	due, err := s.store.DueJobs(ctx, now, Batch)
	var errs []error
	for _, id := range due {
		ok, disabled, err := s.reapLease(ctx, id)
		errs = append(errs, err)
		if ok {
			rep.LeasesExpired++
		}
		if disabled {
			rep.BuildersDisabled++
		}
		if ok {
			continue
		}
		timedOut, err := s.timeOut(ctx, id)
		errs = append(errs, err)
		if timedOut {
			rep.TimedOut++
		}
	}
	return errs, err
}

// Sweep handles the jobs due on the reap index now, and reports whether
// any job is still running (the reaper Lambda keeps sweeping every few
// seconds while one is, until its next scheduled pass): two index reads
// when nothing is due.
func (s *Service) Sweep(ctx context.Context) (rep *Report, running bool, err error) {
	rep = &Report{}
	errs, err := s.sweep(ctx, s.jobs.Now(), rep)
	errs = append(errs, err)
	active, err := s.store.ActiveJobs(ctx, "", 1)
	errs = append(errs, err)
	rep.Running = len(active) > 0
	return rep, rep.Running, errors.Join(errs...)
}

// reapLease handles a job whose lease expired: the builder is lost. The job
// goes back to the queue after a backoff (or ends when it is out of attempts
// or has killed too many builders) and the builder loses it. Blame goes to
// the side that fails more, as in Launchpad: when the job has lost more
// builders than this builder has failed in a row, the job is the likely
// culprit and the builder's count is left alone; otherwise the builder's
// count grows and at BuilderMaxFailures it is disabled.
func (s *Service) reapLease(ctx context.Context, id string) (reaped, disabled bool, err error) {
	var job, after *farm.Job
	err = store.RetryOnConflict(ctx, func() error {
		job, after = nil, nil
		now := s.jobs.Now()
		cur, err := s.store.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if !cur.Status.Active() || cur.LeaseExpiresAt == nil || now.Before(*cur.LeaseExpiresAt) {
			return nil
		}
		backoff := farm.Backoff(cur.Attempts, s.policy.RequeueBackoff, s.policy.MaxRequeueBackoff)
		next, ev, err := cur.LeaseLost(now, backoff, s.policy.JobMaxBuilderFailures)
		if err != nil {
			return err
		}
		if err := s.jobs.Write(ctx, cur, next, ev); err != nil {
			return err
		}
		job, after = cur, next
		return nil
	})
	if err != nil || after == nil {
		return false, false, err
	}
	s.builders.Amend(ctx, job.Builder, func(b *farm.Builder) {
		now := s.jobs.Now()
		if b.LastHeartbeat != nil && now.Sub(*b.LastHeartbeat) < s.policy.Lease {
			// Alive and beating, yet it never renewed this job: it never
			// heard of the claim (the API died before answering, or the
			// answer was lost). Not the builder's failure.
			return
		}
		b.State = farm.BuilderLost
		disabled = b.BlameLostJob(after, "lost the lease of", now, s.policy.BuilderMaxFailures)
	})
	s.log.WarnContext(ctx, "lease expired", "job_id", job.ID, "builder", job.Builder, "now", after.Status, "attempts", job.Attempts, "builder_disabled", disabled)
	s.follow.After(ctx, after)
	return true, disabled, nil
}

// timeOut ends a job that ran past its own timeout; its builder gets a cancel
// directive on its next heartbeat and its late result is refused.
func (s *Service) timeOut(ctx context.Context, id string) (bool, error) {
	var after *farm.Job
	err := store.RetryOnConflict(ctx, func() error {
		after = nil
		now := s.jobs.Now()
		job, err := s.store.GetJob(ctx, id)
		if err != nil {
			return err
		}
		deadline, ok := job.Deadline()
		if !ok || now.Before(deadline) {
			return nil
		}
		next, ev, err := job.TimeOut(now)
		if err != nil {
			return err
		}
		if err := s.jobs.Write(ctx, job, next, ev); err != nil {
			return err
		}
		after = next
		return nil
	})
	if err != nil || after == nil {
		return false, err
	}
	s.log.WarnContext(ctx, "job timed out", "job_id", id, "builder", after.Builder)
	s.follow.After(ctx, after)
	return true, nil
}

// checkQueue measures a pool's queue and rings its doorbell once when a
// claimable job has waited longer than StaleQueueAge: its doorbell was lost,
// or every builder was busy when it rang.
func (s *Service) checkQueue(ctx context.Context, pool string) (PoolStat, bool, error) {
	stat := PoolStat{Pool: pool}
	jobs, err := s.store.QueuedJobs(ctx, pool, 1000)
	if err != nil {
		return stat, false, err
	}
	now := s.jobs.Now()
	stat.Queued = len(jobs)
	var stale *farm.Job
	for _, j := range jobs {
		since := j.CreatedAt
		if j.QueuedAt != nil {
			since = *j.QueuedAt
		}
		stat.OldestAgeSeconds = max(stat.OldestAgeSeconds, now.Sub(since).Seconds())
		if stale == nil && j.Claimable(now) && now.Sub(since) >= s.policy.StaleQueueAge {
			stale = j
		}
	}
	if stale == nil {
		return stat, false, nil
	}
	if err := s.bell.Ring(ctx, pool, stale.ID, 0); err != nil {
		return stat, false, err
	}
	return stat, true, nil
}
