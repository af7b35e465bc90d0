package followup

import (
	"context"
	"errors"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// EvaluateWaiting queues a waiting job whose dependencies all succeeded,
// or fails it when one of them ended otherwise (and its own dependents in
// turn). A job that is not waiting, or no longer exists, is left alone.
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
			if err != nil {
				return err
			}
			switch {
			case dep.Status == farm.StatusSucceeded:
			case dep.Status.Terminal():
				next, ev, err := job.DependencyFailed(dep, now)
				if err != nil {
					return err
				}
				if err := s.jobs.Write(ctx, job, next, ev); err != nil {
					return err
				}
				// Its own dependents fail in turn.
				s.After(ctx, next)
				return nil
			default:
				pending = true
			}
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
