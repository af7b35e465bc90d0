package builders

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// TakeSlot records job, just claimed, on builder b (as the claim read it),
// re-reading the builder while other writers change it, and refuses when it
// may no longer claim (disabled, draining, its slots full): a builder's
// slots are never overbooked.
func (s *Service) TakeSlot(ctx context.Context, b *farm.Builder, job *farm.Job) error {
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
		nb.UpdatedAt = s.now()
		nb.Version++
		err := s.store.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
		if !errors.Is(err, store.ErrLostRace) || attempt == 8 {
			return err
		}
		if b, err = s.store.GetBuilder(ctx, b.Name); err != nil {
			return err
		}
	}
}

// ReleaseSlot removes job id from the builder's current jobs and applies
// change (if any) to the builder in the same write. A failure is logged:
// the next heartbeat prunes jobs the builder no longer holds.
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
		return s.store.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
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

// Beat records that builder name is alive at now (it heartbeated), whether
// it is draining, and forgets the jobs it no longer holds. drain tells it
// to claim nothing more (disabled or draining).
func (s *Service) Beat(ctx context.Context, name string, draining bool, now time.Time) (drain bool, err error) {
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
		// Forget jobs the builder no longer holds (finished or taken away).
		nb.CurrentJobs = s.heldJobs(ctx, b)
		nb.Refresh()
		nb.UpdatedAt = now
		nb.Version++
		drain = nb.Disabled || nb.Draining || nb.DrainRequested
		return s.store.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}})
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
		if err := s.store.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}}); err != nil {
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
