package followup

import (
	"context"
	"errors"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// EvaluateWaiting queues a waiting job whose dependencies all succeeded,
// or fails it when one of them ended otherwise or no longer exists (and
// its own dependents in turn, each naming the job it waited for). A job that is not waiting, or no longer exists, is left alone.
func (s *Service) EvaluateWaiting(ctx context.Context, id string) error {
	var released *farm.Job
	err := store.RetryOnConflict(ctx, func() error {
		released = nil
		job, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			return nil // an edge of a job whose write failed
		}
		if err != nil || job.Status != farm.StatusWaiting {
			return err
		}
		now := s.jobs.Now()
		pending := false
		for _, depID := range job.DependsOn {
			dep, err := s.store.GetJob(ctx, depID)
			if err != nil && !farm.IsCode(err, farm.ENotFound) {
				return err
			}
			var (
				next *farm.Job
				ev   *farm.JobEvent
			)
			switch {
			case dep == nil: // expired, or its write failed: it will never end
				next, ev, err = job.DependencyMissing(depID, now)
			case dep.Status == farm.StatusSucceeded:
				continue
			case dep.Status.Terminal():
				next, ev, err = job.DependencyFailed(dep, now)
			default:
				pending = true
				continue
			}
			if err != nil {
				return err
			}
			if err := s.jobs.Write(ctx, job, next, ev); err != nil {
				return err
			}
			// Its own dependents fail in turn.
			s.After(ctx, next)
			return nil
		}
		if pending {
			return nil
		}
		next, ev, err := job.Release(now)
		if err != nil {
			return err
		}
		if err := s.jobs.Write(ctx, job, next, ev); err != nil {
			return err
		}
		released = next
		return nil
	})
	if released != nil {
		s.Ring(ctx, released, 0)
	}
	return err
}

// releaseDependents re-evaluates the jobs registered as waiting for id.
func (s *Service) releaseDependents(ctx context.Context, id string) error {
	ids, err := s.store.Dependents(ctx, id, 0)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ids {
		if err := s.EvaluateWaiting(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
