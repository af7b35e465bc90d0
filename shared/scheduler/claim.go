package scheduler

import (
	"context"
	"errors"
	"slices"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Claim gives builder the best claimable job of pool: highest score, then
// oldest. The claim is one transaction conditional on the job still being
// queued as read (so two claimers never both win it) and on the builder
// record being unchanged (so its slots are never overbooked). A claimer that
// loses a job to another moves on to the next. It returns nil when the pool
// has nothing to claim.
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
			var job *farm.Job
			job, b, err = s.claimCandidate(ctx, b, pool, cand)
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

// claimCandidate claims cand, trying again while only the builder record
// changed underneath (another slot of the same builder claiming at once), so
// that such a race never makes it skip to a lower-scored job. It returns an
// ErrLostRace conflict once the job itself was taken, and the builder as last
// read.
func (s *Scheduler) claimCandidate(ctx context.Context, b *farm.Builder, pool string, cand *farm.Job) (*farm.Job, *farm.Builder, error) {
	for attempt := 0; ; attempt++ {
		job, err := s.claimOne(ctx, b, cand)
		if !errors.Is(err, ErrLostRace) || attempt == 5 {
			return job, b, err
		}
		if b, err = s.claimant(ctx, b.Name, pool); err != nil {
			return nil, nil, err
		}
		cur, gerr := s.store.GetJob(ctx, cand.ID)
		if gerr != nil {
			return nil, b, gerr
		}
		if cur.Version != cand.Version {
			return nil, b, LostRace("job %s was claimed by another builder", cand.ID)
		}
	}
}

// claimOne tries to claim one candidate. It returns (nil, nil) when the
// candidate is not claimable by this builder, and an ErrLostRace conflict
// when another writer got there first.
func (s *Scheduler) claimOne(ctx context.Context, b *farm.Builder, cand *farm.Job) (*farm.Job, error) {
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
	nb := b.Clone()
	nb.CurrentJobs = append(nb.CurrentJobs, next.ID)
	nb.LastHeartbeat = farm.TimePtr(now)
	if nb.State == farm.BuilderLost {
		nb.State = farm.BuilderIdle
	}
	nb.Refresh()
	nb.UpdatedAt = now
	nb.Version++
	ev.ExpiresAt = s.eventExpiry(now)
	tx := Tx{Jobs: []JobWrite{{Prev: cand, Next: next, Event: ev}}, Builders: []BuilderWrite{{Prev: b, Next: nb}}}
	if err := s.store.Commit(ctx, tx); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "job claimed", "job_id", next.ID, "builder", b.Name, "pool", next.Pool, "score", next.Score, "attempt", next.Attempts)
	return next, nil
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
