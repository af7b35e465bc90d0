package jobs

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Cancel stops a job for its submitter or an admin: at once if it is not
// running, through its builder's next heartbeat if it is (the job is
// cancelling until the builder reports).
func (s *Service) Cancel(ctx context.Context, by farm.Principal, id string) (*farm.Job, error) {
	return s.transition(ctx, id, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		if err := mayManage(by, j); err != nil {
			return nil, nil, err
		}
		return j.Cancel(by.Actor(), now)
	})
}

// Retry requeues a failed, cancelled or timed-out job with its attempts
// reset, for its submitter or an admin.
func (s *Service) Retry(ctx context.Context, by farm.Principal, id string) (*farm.Job, error) {
	return s.transition(ctx, id, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		if err := mayManage(by, j); err != nil {
			return nil, nil, err
		}
		return j.Retry(by.Actor(), now)
	})
}

// mayManage reports whether p may cancel or retry job: an admin, or the
// submitter who asked for it.
func mayManage(p farm.Principal, job *farm.Job) error {
	if p.Role == farm.RoleAdmin || (p.Role == farm.RoleSubmitter && job.RequestedBy == p.Actor()) {
		return nil
	}
	return farm.Errorf(farm.EForbidden, "job %s was submitted by %s; only they or an admin may change it", job.ID, job.RequestedBy)
}

// MaxPinnedScore bounds a pinned score (±).
const MaxPinnedScore = 1_000_000_000

// PinScore sets a job's score by hand (an admin's).
func (s *Service) PinScore(ctx context.Context, by farm.Principal, id string, score int64) (*farm.Job, error) {
	if score < -MaxPinnedScore || score > MaxPinnedScore {
		return nil, farm.FieldError("score", "must be between %d and %d", -MaxPinnedScore, MaxPinnedScore)
	}
	return s.transition(ctx, id, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		if j.Status.Terminal() {
			return nil, nil, farm.Errorf(farm.EConflict, "job %s is %s; its score no longer matters", j.ID, j.Status)
		}
		return j.PinScore(score, by.Actor(), now)
	})
}

// transition applies one domain transition with a conditional write, then
// runs the follow-up work of the new state.
func (s *Service) transition(ctx context.Context, id string, apply func(*farm.Job, time.Time) (*farm.Job, *farm.JobEvent, error)) (*farm.Job, error) {
	job, err := s.jobs.Transition(ctx, id, apply)
	if err != nil {
		return nil, err
	}
	s.follow.After(ctx, job)
	return job, nil
}
