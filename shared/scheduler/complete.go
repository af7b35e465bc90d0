package scheduler

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Complete records a builder's result for a job it holds, fenced by the claim
// token: a stale or foreign token is a conflict and changes nothing. Then the
// builder's slot is freed.
func (s *Scheduler) Complete(ctx context.Context, builderName, jobID string, c farm.Completion) (*farm.Job, error) {
	var done *farm.Job
	err := retryOnConflict(ctx, func() error {
		now := s.clock()
		job, err := s.store.GetJob(ctx, jobID)
		if err != nil {
			return err
		}
		if job.Builder != builderName && job.Status.Active() {
			return farm.Errorf(farm.EConflict, "job %s is held by another builder", jobID)
		}
		next, ev, err := job.Complete(builderName, c, now)
		if err != nil {
			return err
		}
		if err := s.write(ctx, job, next, ev); err != nil {
			return err
		}
		done = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	dirties := false
	if typ, err := s.registry.Lookup(done.Type); err == nil {
		dirties = typ.RequiresCleanBuilder()
	}
	s.releaseSlot(ctx, builderName, jobID, func(b *farm.Builder) {
		b.JobsCompleted++
		if done.Status == farm.StatusSucceeded {
			// A builder that finishes work is healthy again.
			b.ConsecutiveFailures = 0
		}
		if dirties {
			// It ran a job that needs a clean machine: not clean any more
			// until it is reset and registers again.
			b.CleanStatus = farm.CleanDirty
		}
	})
	s.log.InfoContext(ctx, "job completed", "job_id", jobID, "builder", builderName, "status", done.Status)
	s.AfterTransition(ctx, done)
	return done, nil
}

// Cancel stops a job: at once if it is not running, through its builder's
// next heartbeat if it is (the job is cancelling until the builder reports).
func (s *Scheduler) Cancel(ctx context.Context, actor, jobID string) (*farm.Job, error) {
	return s.transition(ctx, jobID, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		return j.Cancel(actor, now)
	})
}

// Retry requeues a failed, cancelled or timed-out job with its attempts reset.
func (s *Scheduler) Retry(ctx context.Context, actor, jobID string) (*farm.Job, error) {
	return s.transition(ctx, jobID, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		return j.Retry(actor, now)
	})
}

// Score limits for a pinned score.
const MaxPinnedScore = 1_000_000_000

// PinScore sets a job's score by hand.
func (s *Scheduler) PinScore(ctx context.Context, actor, jobID string, score int64) (*farm.Job, error) {
	if score < -MaxPinnedScore || score > MaxPinnedScore {
		return nil, farm.FieldError("score", "must be between %d and %d", -MaxPinnedScore, MaxPinnedScore)
	}
	return s.transition(ctx, jobID, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		if j.Status.Terminal() {
			return nil, nil, farm.Errorf(farm.EConflict, "job %s is %s; its score no longer matters", j.ID, j.Status)
		}
		return j.PinScore(score, actor, now)
	})
}

// transition applies one domain transition with a conditional write,
// re-reading and re-deciding when it loses a race, then runs the follow-up
// work of the new state. A nil next job means nothing to do.
func (s *Scheduler) transition(ctx context.Context, jobID string, apply func(*farm.Job, time.Time) (*farm.Job, *farm.JobEvent, error)) (*farm.Job, error) {
	var result *farm.Job
	err := retryOnConflict(ctx, func() error {
		now := s.clock()
		job, err := s.store.GetJob(ctx, jobID)
		if err != nil {
			return err
		}
		next, ev, err := apply(job, now)
		if err != nil {
			return err
		}
		if next == nil {
			result = job
			return nil
		}
		if err := s.write(ctx, job, next, ev); err != nil {
			return err
		}
		result = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.AfterTransition(ctx, result)
	return result, nil
}
