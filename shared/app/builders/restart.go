package builders

import (
	"cmp"
	"context"
	"slices"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A builder that registers again under another boot id restarted: its old
// process, and every job it ran, is gone (farm/restart.go). Registration
// takes those jobs back before it records the new boot id, so that a
// registration that fails halfway is retried by the agent under the same
// new boot id and finds them again; once the new boot id is recorded,
// registering again changes nothing.

// maxClaimPages bounds the pages of active jobs read to find a restarted
// builder's claims (MaxListLimit each).
const maxClaimPages = 40

// claimsOf lists the jobs the farm counts as held by builder b: the jobs
// its record names, and every running or cancelling job whose claim names
// it (the record may lag behind its claims; the status index does not
// miss a claim older than the index's propagation).
func (s *Service) claimsOf(ctx context.Context, b *farm.Builder) ([]*farm.Job, error) {
	var held []*farm.Job
	seen := map[string]bool{}
	add := func(j *farm.Job) {
		if j.HeldBy(b.Name) && !seen[j.ID] {
			seen[j.ID] = true
			held = append(held, j)
		}
	}
	for _, id := range b.CurrentJobs {
		j, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		add(j)
	}
	for _, status := range []farm.JobStatus{farm.StatusRunning, farm.StatusCancelling} {
		cursor := ""
		for page := 0; page < maxClaimPages; page++ {
			p, err := s.store.ListJobs(ctx, store.JobFilter{Status: status, Limit: store.MaxListLimit, Cursor: cursor})
			if err != nil {
				return nil, err
			}
			for _, j := range p.Jobs {
				add(j)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
	}
	slices.SortFunc(held, func(a, b *farm.Job) int { return cmp.Compare(a.ID, b.ID) })
	return held, nil
}

// takeBackClaims requeues (or ends) every job restarted builder b still
// holds, each with a write fenced by the claim as read, and returns them
// as written. A job that changed meanwhile (completed, reaped) is left
// alone.
func (s *Service) takeBackClaims(ctx context.Context, b *farm.Builder, newBoot string) ([]*farm.Job, error) {
	held, err := s.claimsOf(ctx, b)
	if err != nil {
		return nil, err
	}
	var taken []*farm.Job
	for _, j := range held {
		after, err := s.takeBack(ctx, j.ID, b.Name, newBoot)
		if err != nil {
			return taken, err
		}
		if after != nil {
			taken = append(taken, after)
		}
	}
	return taken, nil
}

// takeBack takes job id back from restarted builder name; nil when the
// builder no longer holds it.
func (s *Service) takeBack(ctx context.Context, id, name, newBoot string) (*farm.Job, error) {
	var after *farm.Job
	err := store.RetryOnConflict(ctx, func() error {
		after = nil
		cur, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !cur.HeldBy(name) {
			return nil
		}
		now := s.jobs.Now()
		next, ev, err := cur.BuilderRestarted(name, newBoot, now, s.policy.JobMaxBuilderFailures)
		if err != nil {
			return err
		}
		if err := s.jobs.Write(ctx, cur, next, ev); err != nil {
			return err
		}
		after = next
		return nil
	})
	return after, err
}

// forgetTaken drops the jobs taken back from builder b's record and counts
// the restart against it once (one crash, however many slots it ran;
// BlameLostJob decides whether a job is the likelier culprit).
func (s *Service) forgetTaken(b *farm.Builder, taken []*farm.Job) {
	for _, j := range taken {
		if i := slices.Index(b.CurrentJobs, j.ID); i >= 0 {
			b.CurrentJobs = slices.Delete(b.CurrentJobs, i, i+1)
		}
	}
	for _, j := range taken {
		before := b.ConsecutiveFailures
		if b.BlameLostJob(j, "restarted while running", s.now(), s.policy.BuilderMaxFailures) {
			s.log.Warn("builder disabled: it restarted with a job too many times", "builder", b.Name, "job_id", j.ID)
		}
		if b.ConsecutiveFailures != before {
			return
		}
	}
}
