package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// ReapReport says what one reaper pass did.
type ReapReport struct {
	LeasesExpired    int
	TimedOut         int
	BuildersLost     int
	BuildersDisabled int
	WaitingChecked   int
	PoolsRung        []string
	ResourcesExpired int
	Pools            []PoolStat
}

// PoolStat is a pool's queue as the reaper saw it (for metrics and alarms).
type PoolStat struct {
	Pool             string
	Queued           int
	OldestAgeSeconds float64
}

// reapBatch bounds the work of one pass; the next pass takes the rest.
const reapBatch = 200

// Reap does one pass of the reaper: expired leases (builder lost: requeue or
// end the job, blame the builder), jobs past their timeout, builders that
// stopped heartbeating, waiting jobs whose dependencies finished, queues
// whose doorbells were lost, and resource leases that ran out.
func (s *Scheduler) Reap(ctx context.Context) (*ReapReport, error) {
	rep := &ReapReport{}
	var errs []error
	now := s.clock()

	expired, err := s.store.ExpiredLeases(ctx, now, reapBatch)
	errs = append(errs, err)
	for _, id := range expired {
		ok, disabled, err := s.reapLease(ctx, id)
		errs = append(errs, err)
		if ok {
			rep.LeasesExpired++
		}
		if disabled {
			rep.BuildersDisabled++
		}
	}
	overdue, err := s.store.OverdueJobs(ctx, now, reapBatch)
	errs = append(errs, err)
	for _, id := range overdue {
		ok, err := s.timeOut(ctx, id)
		errs = append(errs, err)
		if ok {
			rep.TimedOut++
		}
	}
	lost, err := s.markLostBuilders(ctx)
	errs = append(errs, err)
	rep.BuildersLost = lost

	waiting, err := s.store.ListJobs(ctx, JobFilter{Status: farm.StatusWaiting, Limit: reapBatch})
	errs = append(errs, err)
	if waiting != nil {
		for _, j := range waiting.Jobs {
			errs = append(errs, s.evaluateWaiting(ctx, j.ID))
			rep.WaitingChecked++
		}
	}
	for _, pool := range s.poolList {
		stat, rang, err := s.checkQueue(ctx, pool)
		errs = append(errs, err)
		rep.Pools = append(rep.Pools, stat)
		if rang {
			rep.PoolsRung = append(rep.PoolsRung, pool)
		}
	}
	n, err := s.expireResourceLeases(ctx)
	errs = append(errs, err)
	rep.ResourcesExpired = n
	return rep, errors.Join(errs...)
}

// ReapJob checks one job's lease and timeout now (its lease timer fired),
// and arms the timer again for a job whose lease was renewed meanwhile.
func (s *Scheduler) ReapJob(ctx context.Context, id string) error {
	if _, _, err := s.reapLease(ctx, id); err != nil {
		return err
	}
	if _, err := s.timeOut(ctx, id); err != nil {
		return err
	}
	job, err := s.store.GetJob(ctx, id)
	if farm.IsCode(err, farm.ENotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if job.Status.Active() {
		s.armLeaseTimer(ctx, job)
	}
	return nil
}

// reapLease handles a job whose lease expired: the builder is lost. The job
// goes back to the queue after a backoff (or ends when it is out of attempts
// or has killed too many builders) and the builder loses it, in one
// transaction. Blame goes to the side that fails more, as in Launchpad: when
// the job has lost more builders than this builder has failed in a row, the
// job is the likely culprit and the builder's count is left alone; otherwise
// the builder's count grows and at BuilderMaxFailures it is disabled.
func (s *Scheduler) reapLease(ctx context.Context, id string) (reaped, disabled bool, err error) {
	var job, after *farm.Job
	err = retryOnConflict(ctx, func() error {
		job, after = nil, nil
		now := s.clock()
		cur, err := s.store.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if !cur.Status.Active() || cur.LeaseExpiresAt == nil || now.Before(*cur.LeaseExpiresAt) {
			return nil
		}
		backoff := farm.Backoff(cur.Attempts, s.cfg.RequeueBackoff, s.cfg.MaxRequeueBackoff)
		next, ev, err := cur.LeaseLost(now, backoff, s.cfg.JobMaxBuilderFailures)
		if err != nil {
			return err
		}
		if err := s.write(ctx, cur, next, ev); err != nil {
			return err
		}
		job, after = cur, next
		return nil
	})
	if err != nil || after == nil {
		return false, false, err
	}
	s.releaseSlot(ctx, job.Builder, job.ID, func(b *farm.Builder) {
		now := s.clock()
		if b.LastHeartbeat == nil || now.Sub(*b.LastHeartbeat) >= s.cfg.Lease {
			b.State = farm.BuilderLost
		}
		if after.BuilderFailures > b.ConsecutiveFailures+1 {
			return // the job has failed more builders than this one has failed jobs: blame the job
		}
		b.ConsecutiveFailures++
		b.TotalFailures++
		if b.ConsecutiveFailures >= s.cfg.BuilderMaxFailures && !b.Disabled {
			b.Disabled = true
			b.DisabledReason = fmt.Sprintf("disabled automatically after %d consecutive failures (last: lost the lease of job %s at %s)", b.ConsecutiveFailures, job.ID, now.Format(time.RFC3339))
			disabled = true
		}
	})
	s.log.WarnContext(ctx, "lease expired", "job_id", job.ID, "builder", job.Builder, "now", after.Status, "attempts", job.Attempts, "builder_disabled", disabled)
	s.AfterTransition(ctx, after)
	return true, disabled, nil
}

// timeOut ends a job that ran past its own timeout; its builder gets a cancel
// directive on its next heartbeat and its late result is refused.
func (s *Scheduler) timeOut(ctx context.Context, id string) (bool, error) {
	var after *farm.Job
	err := retryOnConflict(ctx, func() error {
		after = nil
		now := s.clock()
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
		if err := s.write(ctx, job, next, ev); err != nil {
			return err
		}
		after = next
		return nil
	})
	if err != nil || after == nil {
		return false, err
	}
	s.releaseSlot(ctx, after.Builder, id, nil)
	s.log.WarnContext(ctx, "job timed out", "job_id", id, "builder", after.Builder)
	s.AfterTransition(ctx, after)
	return true, nil
}

// markLostBuilders marks builders that stopped heartbeating for a lease as
// lost (their jobs' leases ran out with them and are reaped on their own),
// and forgets the jobs they no longer hold.
func (s *Scheduler) markLostBuilders(ctx context.Context) (int, error) {
	builders, err := s.store.ListBuilders(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, b := range builders {
		now := s.clock()
		if b.State == farm.BuilderLost || b.Disabled || b.LastHeartbeat == nil || now.Sub(*b.LastHeartbeat) < s.cfg.Lease {
			continue
		}
		nb := b.Clone()
		nb.CurrentJobs = s.heldJobs(ctx, b)
		nb.State = farm.BuilderLost
		nb.Refresh()
		nb.UpdatedAt = now
		nb.Version++
		if err := s.store.Commit(ctx, Tx{Builders: []BuilderWrite{{Prev: b, Next: nb}}}); err != nil {
			if !errors.Is(err, ErrLostRace) {
				errs = append(errs, err)
			}
			continue
		}
		s.log.WarnContext(ctx, "builder lost: no heartbeat for a lease", "builder", b.Name, "last_heartbeat", b.LastHeartbeat)
		n++
	}
	return n, errors.Join(errs...)
}

// checkQueue measures a pool's queue and rings its doorbell once when a
// claimable job has waited longer than StaleQueueAge: its doorbell was lost,
// or every builder was busy when it rang.
func (s *Scheduler) checkQueue(ctx context.Context, pool string) (PoolStat, bool, error) {
	stat := PoolStat{Pool: pool}
	jobs, err := s.store.QueuedJobs(ctx, pool, 1000)
	if err != nil {
		return stat, false, err
	}
	now := s.clock()
	stat.Queued = len(jobs)
	var stale *farm.Job
	for _, j := range jobs {
		since := j.CreatedAt
		if j.QueuedAt != nil {
			since = *j.QueuedAt
		}
		stat.OldestAgeSeconds = max(stat.OldestAgeSeconds, now.Sub(since).Seconds())
		if stale == nil && j.Claimable(now) && now.Sub(since) >= s.cfg.StaleQueueAge {
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
