package builders

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

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
	s.ReleaseSlot(ctx, builderName, job.ID, func(b *farm.Builder) {
		if job.Status == farm.StatusSucceeded {
			b.ConsecutiveFailures = 0
		}
		if dirties {
			b.CleanStatus = farm.CleanDirty
		}
	})
}

// ReleaseSlot removes job id from the builder's current jobs and applies
// change (if any) to the builder in the same write. A failure is logged:
// the next heartbeat reports the jobs the builder runs.
func (s *Service) ReleaseSlot(ctx context.Context, builderName, id string, change func(*farm.Builder)) {
	err := store.RetryOnConflict(ctx, func() error {
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
		nb.UpdatedAt = s.now()
		return s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
	})
	if err != nil {
		s.log.WarnContext(ctx, "builder record not updated after its job; its next heartbeat will", "builder", builderName, "job_id", id, "err", err)
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

// Beat records that builder name is alive at now (it heartbeated), the
// jobs it holds (held: those of its report whose claims are valid), how
// many jobs it finished since its last heartbeat, and whether it is
// draining. drain tells it to claim nothing more (disabled or draining).
func (s *Service) Beat(ctx context.Context, name string, held []string, completed int, draining bool, now time.Time) (drain bool, err error) {
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
		nb.CurrentJobs = append([]string{}, held...)
		nb.JobsCompleted += max(completed, 0)
		nb.Refresh()
		nb.UpdatedAt = now
		nb.Version++
		drain = nb.Disabled || nb.Draining || nb.DrainRequested
		return s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
	})
	return drain, err
}

// heldJobs returns the jobs on b's record that b still holds (active, its
// claim): a job finished or taken away is dropped.
func (s *Service) heldJobs(ctx context.Context, b *farm.Builder) []string {
	held := make([]string, 0, len(b.CurrentJobs))
	for _, id := range b.CurrentJobs {
		if j, err := s.store.GetJob(ctx, id); err == nil && j.Status.Active() && j.Builder == b.Name {
			held = append(held, id)
		}
	}
	return held
}

// MarkLost marks builders that stopped heartbeating for a lease as lost
// (their jobs' leases ran out with them and are reaped on their own), and
// forgets the jobs they no longer hold. It returns how many it marked.
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
		nb.CurrentJobs = s.heldJobs(ctx, b)
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
