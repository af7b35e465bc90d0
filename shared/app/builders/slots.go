package builders

import (
	"context"
	"errors"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A builder's current jobs are not kept on its item: claims and
// completions write no builder item, and reads derive the jobs it holds
// from the reap index (store.FillCurrentJobs). Its slots are its agent's to
// keep (see app/claims: the claim carries the agent's count).

// AfterRun records on the builder what a finished run changes, and writes
// the builder only when the run changes something: a success after
// failures clears the failure count; a job that needs a clean machine
// leaves it dirty. Most runs change nothing and cost no write. A failure
// is logged: the count is a health hint, the clean status is set again by
// the next such run.
func (s *Service) AfterRun(ctx context.Context, builderName string, job *farm.Job, dirties bool) {
	b, err := s.Claimant(ctx, builderName)
	if err != nil {
		return
	}
	heals := job.Status == farm.StatusSucceeded && b.ConsecutiveFailures > 0
	if !heals && !(dirties && b.CleanStatus != farm.CleanDirty) {
		return
	}
	s.Amend(ctx, builderName, func(b *farm.Builder) {
		if job.Status == farm.StatusSucceeded {
			b.ConsecutiveFailures = 0
		}
		if dirties {
			b.CleanStatus = farm.CleanDirty
		}
	})
}

// Amend applies change to the builder with a conditional write, re-reading
// while it loses races (the reaper's blame on a lost lease, a run's health
// and clean status). A failure is logged: these are health records, and
// the next such event writes them again.
func (s *Service) Amend(ctx context.Context, builderName string, change func(*farm.Builder)) {
	err := store.RetryOnConflict(ctx, func() error {
		b, err := s.store.GetBuilder(ctx, builderName)
		if farm.IsCode(err, farm.ENotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		nb := b.Clone()
		nb.Version++
		change(nb)
		nb.Refresh()
		nb.UpdatedAt = s.now()
		return s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
	})
	if err != nil {
		s.log.WarnContext(ctx, "builder record not updated", "builder", builderName, "err", err)
	}
}

// Beat records that builder name is alive at now (it heartbeated), how
// many jobs it finished since its last heartbeat, and whether it is
// draining. drain tells it to claim nothing more (disabled or draining).
func (s *Service) Beat(ctx context.Context, name string, completed int, draining bool, now time.Time) (drain bool, err error) {
	err = store.RetryOnConflict(ctx, func() error {
		b, err := s.store.GetBuilder(ctx, name)
		if err != nil {
			return err
		}
		nb := b.Clone()
		nb.LastHeartbeat = farm.TimePtr(now)
		if nb.State == farm.BuilderLost {
			nb.State = farm.BuilderIdle
		}
		nb.Draining = draining
		nb.JobsCompleted += max(completed, 0)
		nb.Refresh()
		nb.UpdatedAt = now
		nb.Version++
		drain = nb.Disabled || nb.Draining || nb.DrainRequested
		return s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
	})
	return drain, err
}

// MarkLost marks builders that stopped heartbeating for a lease as lost
// (their jobs' leases ran out with them and are reaped on their own). It
// returns how many it marked.
func (s *Service) MarkLost(ctx context.Context) (int, error) {
	builders, err := s.store.ListBuilders(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, b := range builders {
		now := s.now()
		if b.State == farm.BuilderLost || b.Disabled || b.LastHeartbeat == nil || now.Sub(*b.LastHeartbeat) < s.policy.Lease {
			continue
		}
		nb := b.Clone()
		nb.State = farm.BuilderLost
		nb.Refresh()
		nb.UpdatedAt = now
		nb.Version++
		if err := s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}}); err != nil {
			if !errors.Is(err, store.ErrLostRace) {
				errs = append(errs, err)
			}
			continue
		}
		s.log.WarnContext(ctx, "builder lost: no heartbeat for a lease", "builder", b.Name, "last_heartbeat", b.LastHeartbeat)
		n++
	}
	return n, errors.Join(errs...)
}
