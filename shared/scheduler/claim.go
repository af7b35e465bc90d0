package scheduler

import (
	"context"
	"errors"
	"slices"

	"github.com/buildfarm/buildfarm/shared/emf"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Claim gives builder the best claimable job of pool: highest score, then
// oldest. The job is claimed with a write conditional on it still being
// queued as read, so two claimers never both win it; a claimer that loses
// moves on to the next candidate at the cost of one refused write. Then the
// job is added to the builder's slots with a write conditional on the
// builder record being unchanged; if that shows the slots full (the same
// builder claimed concurrently), the claim is undone, so slots are never
// overbooked. It returns nil when the pool has nothing to claim.
func (s *Scheduler) Claim(ctx context.Context, builderName, pool string) (*farm.Job, error) {
	if !s.pools[pool] {
		return nil, farm.FieldError("pool", "this farm does not serve pool %q", pool)
	}
	b, err := s.claimant(ctx, builderName, pool)
	if err != nil {
		return nil, err
	}
	for round := 0; round < 3; round++ {
		candidates, err := s.store.QueuedJobs(ctx, pool, s.cfg.ClaimScan)
		if err != nil {
			return nil, err
		}
		lost := false
		for _, cand := range candidates {
			job, err := s.claimCandidate(ctx, b, cand)
			if errors.Is(err, ErrLostRace) {
				lost = true
				continue
			}
			if err != nil || job != nil {
				return job, err
			}
		}
		if !lost {
			return nil, nil
		}
	}
	return nil, nil
}

// claimant reads the builder and checks it may claim from pool now.
func (s *Scheduler) claimant(ctx context.Context, name, pool string) (*farm.Builder, error) {
	b, err := s.store.GetBuilder(ctx, name)
	if farm.IsCode(err, farm.ENotFound) {
		return nil, farm.Errorf(farm.ENotFound, "builder %s is not registered", name)
	}
	if err != nil {
		return nil, err
	}
	if !b.Serves(pool) {
		return nil, farm.Errorf(farm.EForbidden, "builder %s does not serve pool %s", name, pool)
	}
	if err := b.CanClaim(); err != nil {
		return nil, err
	}
	return b, nil
}

// claimCandidate claims cand for builder b. It returns (nil, nil) when the
// candidate is not claimable by this builder, and an ErrLostRace conflict
// when another claimer took it first.
func (s *Scheduler) claimCandidate(ctx context.Context, b *farm.Builder, cand *farm.Job) (*farm.Job, error) {
	now := s.clock()
	if !cand.Claimable(now) {
		return nil, nil
	}
	if typ, err := s.registry.Lookup(cand.Type); err == nil && typ.RequiresCleanBuilder() && b.CleanStatus != farm.CleanClean {
		return nil, nil
	}
	next, ev, err := cand.Claim(b.Name, farm.NewSecret(16), now, s.cfg.Lease)
	if err != nil {
		return nil, nil
	}
	if err := s.write(ctx, cand, next, ev); err != nil {
		return nil, err
	}
	if err := s.takeSlot(ctx, b, next); err != nil {
		s.undoClaim(ctx, next, err)
		return nil, err
	}
	s.armLeaseTimer(ctx, next)
	s.publishTimeToStart(ctx, next)
	s.log.InfoContext(ctx, "job claimed", "job_id", next.ID, "builder", b.Name, "pool", next.Pool, "score", next.Score, "attempt", next.Attempts)
	s.AfterTransition(ctx, next)
	return next, nil
}

// takeSlot records the claimed job on the builder, re-reading it while other
// writers change it, and refuses when it may no longer claim.
func (s *Scheduler) takeSlot(ctx context.Context, b *farm.Builder, job *farm.Job) error {
	for attempt := 0; ; attempt++ {
		if err := b.CanClaim(); err != nil {
			return err
		}
		nb := b.Clone()
		nb.CurrentJobs = append(nb.CurrentJobs, job.ID)
		nb.LastHeartbeat = job.StartedAt
		if nb.State == farm.BuilderLost {
			nb.State = farm.BuilderIdle
		}
		nb.Refresh()
		nb.UpdatedAt = s.clock()
		nb.Version++
		err := s.store.Commit(ctx, Tx{Builders: []BuilderWrite{{Prev: b, Next: nb}}})
		if !errors.Is(err, ErrLostRace) || attempt == 8 {
			return err
		}
		if b, err = s.store.GetBuilder(ctx, b.Name); err != nil {
			return err
		}
	}
}

// undoClaim puts a job claimed for a builder that could not take it back in
// the queue.
func (s *Scheduler) undoClaim(ctx context.Context, job *farm.Job, why error) {
	err := retryOnConflict(ctx, func() error {
		cur, err := s.store.GetJob(ctx, job.ID)
		if err != nil {
			return err
		}
		next, ev, err := cur.Unclaim(job.ClaimToken, farm.ErrorMessage(why), s.clock())
		if err != nil {
			return nil // no longer ours to undo
		}
		return s.write(ctx, cur, next, ev)
	})
	if err != nil {
		// The lease will expire and the reaper requeues it.
		s.log.WarnContext(ctx, "claim not undone; the reaper will requeue the job", "job_id", job.ID, "err", err)
		return
	}
	s.ring(ctx, job, 0)
}

// releaseSlot removes job id from the builder's current jobs and applies
// change (if any) to the builder in the same write. A failure is logged: the
// next heartbeat prunes jobs the builder no longer holds.
func (s *Scheduler) releaseSlot(ctx context.Context, builderName, id string, change func(*farm.Builder)) {
	err := retryOnConflict(ctx, func() error {
		b, err := s.store.GetBuilder(ctx, builderName)
		if farm.IsCode(err, farm.ENotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		nb, _ := dropJob(b, id)
		if nb == b {
			if change == nil {
				return nil
			}
			nb = b.Clone()
			nb.Version++
		}
		if change != nil {
			change(nb)
		}
		nb.Refresh()
		nb.UpdatedAt = s.clock()
		return s.store.Commit(ctx, Tx{Builders: []BuilderWrite{{Prev: b, Next: nb}}})
	})
	if err != nil {
		s.log.WarnContext(ctx, "builder slot not released; its next heartbeat will", "builder", builderName, "job_id", id, "err", err)
	}
}

// dropJob returns a copy of b without job id among its current jobs, and
// whether it was there.
func dropJob(b *farm.Builder, id string) (*farm.Builder, bool) {
	i := slices.Index(b.CurrentJobs, id)
	if i < 0 {
		return b, false
	}
	nb := b.Clone()
	nb.CurrentJobs = slices.Delete(nb.CurrentJobs, i, i+1)
	nb.Version++
	nb.Refresh()
	return nb, true
}

// MetricTimeToStart is the EMF metric of each claim: how long the job waited
// in the queue, in seconds, with the dimension Pool.
const MetricTimeToStart = "TimeToStartSeconds"

// publishTimeToStart writes the claimed job's time to start as an EMF
// record; CloudWatch keeps every value, so the dashboard can show p50/p90.
func (s *Scheduler) publishTimeToStart(ctx context.Context, job *farm.Job) {
	if s.metrics == nil || job.TimeToStartSeconds == nil {
		return
	}
	err := emf.Write(s.metrics, s.clock(), map[string]string{"Pool": job.Pool},
		emf.Metric{Name: MetricTimeToStart, Unit: "Seconds", Value: *job.TimeToStartSeconds})
	if err != nil {
		s.log.WarnContext(ctx, "time-to-start metric not written", "job_id", job.ID, "err", err)
	}
}
