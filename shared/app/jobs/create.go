package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Create writes a new job admitted at now, with its first event; it does
// not ring (the caller rings when what goes with the job is written too).
// A job with unfinished dependencies is written waiting, after an edge item
// per dependency (DependentEdge) and a count of each dependency's edges
// (DependentTally): the job depended on is written once, by its first
// dependent (markHasDependents), however many wait for it, and the limit on
// them is checked with one read. Edges exist
// before the job, so a dependency that finishes from then on finds it; one
// that finished just before is noticed when the dependencies are read again
// after the write. The reaper's sweep re-evaluates every waiting job
// anyway, so no dependency's end is ever missed. A job whose id is taken
// is a conflict wrapping store.ErrLostRace.
func (s *Service) Create(ctx context.Context, job *farm.Job, now time.Time) error {
	job.Status, job.Error, job.Result, job.QueuedAt, job.FinishedAt = farm.StatusQueued, "", "", nil, nil
	detail := "submitted by " + job.RequestedBy
	pending, failed, err := s.dependencies(ctx, job)
	if err != nil {
		return err
	}
	switch {
	case failed != nil:
		job.Status, job.Result = farm.StatusFailed, string(farm.StatusFailed)
		job.Error = farm.DependencyFailure(failed)
		job.FinishedAt = farm.TimePtr(now)
		detail = job.Error
	case len(pending) > 0:
		job.Status = farm.StatusWaiting
		if err := s.registerDependent(ctx, job.ID, pending, now); err != nil {
			return err
		}
	default:
		job.QueuedAt = farm.TimePtr(now)
	}
	ev := &farm.JobEvent{JobID: job.ID, Seq: farm.SeqFor(job.Version), At: now, To: job.Status, Actor: job.RequestedBy, Detail: detail}
	if err := s.jobs.Write(ctx, nil, job, ev); err != nil {
		return err
	}
	if job.Status == farm.StatusWaiting {
		s.recheckDependencies(ctx, job.ID, pending)
	}
	return nil
}

// dependencies reads job's dependencies: those unfinished (each with room
// for one more dependent), or the first that ended otherwise than
// succeeded. A missing dependency, or one with Policy.MaxDependents waiting
// jobs already, is an EInvalid error naming it.
func (s *Service) dependencies(ctx context.Context, job *farm.Job) (pending []string, failed *farm.Job, err error) {
	fields := map[string]string{}
	for i, id := range job.DependsOn {
		fields[id] = fmt.Sprintf("depends_on[%d]", i)
		dep, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			return nil, nil, farm.FieldError(fields[id], "job %s does not exist", id)
		}
		if err != nil {
			return nil, nil, err
		}
		switch {
		case dep.Status == farm.StatusSucceeded:
		case dep.Status.Terminal():
			if failed == nil {
				failed = dep
			}
		default:
			pending = append(pending, id)
		}
	}
	if failed != nil {
		return nil, failed, nil // the job fails at once: it waits for nothing
	}
	for _, id := range pending {
		tally, err := s.store.GetDependentTally(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if tally.Count >= s.policy.MaxDependents {
			return nil, nil, farm.FieldError(fields[id], "job %s already has %d dependent jobs, the most a job may have", id, s.policy.MaxDependents)
		}
	}
	return pending, nil, nil
}

// registerDependent counts jobID among the dependents of each of deps
// (one conditional write of the count, refused at the limit) and records
// the edge. A count whose job is then never written stays counted: the
// limit is reached a little early, nothing worse.
func (s *Service) registerDependent(ctx context.Context, jobID string, deps []string, now time.Time) error {
	expires := s.policy.EventExpiry(now)
	for _, depID := range deps {
		err := store.RetryOnConflict(ctx, func() error {
			tally, err := s.store.GetDependentTally(ctx, depID)
			if err != nil {
				return err
			}
			if tally.Count >= s.policy.MaxDependents {
				return farm.FieldError("depends_on", "job %s already has %d dependent jobs, the most a job may have", depID, s.policy.MaxDependents)
			}
			next := &store.DependentTally{JobID: depID, Count: tally.Count + 1, Version: tally.Version + 1, ExpiresAt: expires}
			return s.store.Commit(ctx, store.Tx{Tallies: []store.TallyWrite{{Prev: tally.Stored(), Next: next}}})
		})
		if err != nil {
			return err
		}
		if err := s.markHasDependents(ctx, depID); err != nil {
			return err
		}
		edge := store.DependentEdge{JobID: depID, DependentID: jobID, ExpiresAt: expires}
		if err := s.store.Commit(ctx, store.Tx{Dependents: []store.DependentEdge{edge}}); err != nil {
			return err
		}
	}
	return nil
}

// markHasDependents flags the job depended on, once (its first dependent
// writes it; later ones find it set): its end then shows that jobs wait on
// it, so the follow-up of a job without dependents never looks for them and
// the stream dispatcher is not invoked for it. A dependency that ended
// meanwhile is left alone: the waiting job's re-check after its write
// covers it.
func (s *Service) markHasDependents(ctx context.Context, depID string) error {
	return store.RetryOnConflict(ctx, func() error {
		dep, err := s.store.GetJob(ctx, depID)
		if err != nil || dep.HasDependents || dep.Status.Terminal() {
			return err
		}
		next := dep.Touched()
		next.HasDependents = true
		return s.store.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: dep, Next: next}}})
	})
}

// recheckDependencies re-evaluates a job just written waiting if one of its
// dependencies has finished meanwhile: its follow-up may have looked for
// dependents before the job existed.
func (s *Service) recheckDependencies(ctx context.Context, jobID string, deps []string) {
	for _, depID := range deps {
		dep, err := s.store.GetJob(ctx, depID)
		if err == nil && !dep.Status.Terminal() {
			continue
		}
		if err == nil {
			err = s.follow.EvaluateWaiting(ctx, jobID)
		}
		if err != nil {
			s.log.WarnContext(ctx, "dependency re-check failed; the reaper's sweep covers it", "job_id", jobID, "dependency", depID, "err", err)
		}
		return
	}
}
