package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// AfterTransition does the follow-up work of a job's current state, and is
// safe to run any number of times for the same state: the API runs it right
// after a change, the stream dispatcher runs it again for every change it
// sees, and the reaper's sweep catches what both missed.
//
//   - queued: ring the pool's doorbell, if the job is still queued when read
//     (so the dispatcher does not ring again for a job already claimed);
//   - waiting: release or fail it if its dependencies have finished;
//   - finished: re-evaluate the jobs waiting on it; create the follow-on jobs
//     of a job that succeeded; settle the resource a clean-resource job cleaned.
func (s *Scheduler) AfterTransition(ctx context.Context, job *farm.Job) {
	if err := s.FollowUp(ctx, job); err != nil {
		s.log.WarnContext(ctx, "follow-up work failed; it is retried by the dispatcher and the reaper", "job_id", job.ID, "status", job.Status, "err", err)
	}
}

// FollowUp is AfterTransition returning its error, for callers that retry
// (the dispatcher reports the stream record as failed).
func (s *Scheduler) FollowUp(ctx context.Context, job *farm.Job) error {
	switch {
	case job.Status == farm.StatusQueued:
		err := s.ringIfQueued(ctx, job.ID)
		if job.Type == farm.TypeCleanResource {
			err = errors.Join(err, s.settleCleanedResource(ctx, job))
		}
		return err
	case job.Status.Active() && job.Type == farm.TypeCleanResource:
		return s.settleCleanedResource(ctx, job)
	case job.Status == farm.StatusWaiting:
		return s.evaluateWaiting(ctx, job.ID)
	case job.Status.Terminal():
		errs := []error{s.releaseDependents(ctx, job.ID)}
		if job.Status == farm.StatusSucceeded && !job.FollowOnsCreated && s.declaresFollowOns(job) {
			if err := s.createFollowOns(ctx, job.ID); err != nil {
				errs = append(errs, err)
			}
		}
		if job.Type == farm.TypeCleanResource {
			if err := s.settleCleanedResource(ctx, job); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

func (s *Scheduler) ringIfQueued(ctx context.Context, id string) error {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if job.Status != farm.StatusQueued {
		return nil
	}
	var delay time.Duration
	if job.NotBefore != nil {
		delay = job.NotBefore.Sub(s.clock())
	}
	return s.bell.Ring(ctx, job.Pool, job.ID, delay)
}

// evaluateWaiting queues a waiting job whose dependencies all succeeded, or
// fails it when one of them ended otherwise.
func (s *Scheduler) evaluateWaiting(ctx context.Context, id string) error {
	var released *farm.Job
	err := retryOnConflict(ctx, func() error {
		released = nil
		job, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			return nil // an edge of a job whose write failed
		}
		if err != nil || job.Status != farm.StatusWaiting {
			return err
		}
		now := s.clock()
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
				if err := s.write(ctx, job, next, ev); err != nil {
					return err
				}
				// Its own dependents fail in turn.
				s.AfterTransition(ctx, next)
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
		if err := s.write(ctx, job, next, ev); err != nil {
			return err
		}
		released = next
		return nil
	})
	if released != nil {
		s.ring(ctx, released, 0)
	}
	return err
}

// createFollowOns creates the follow-on jobs of a succeeded job, once. Their
// ids derive from the parent's, so when the API and the dispatcher both get
// here, the second finds the first's jobs; the parent's follow_ons_created
// flag is set last.
func (s *Scheduler) createFollowOns(ctx context.Context, parentID string) error {
	parent, err := s.store.GetJob(ctx, parentID)
	if err != nil || parent.Status != farm.StatusSucceeded || parent.FollowOnsCreated {
		return err
	}
	now := s.clock()
	children, err := s.followOnJobs(parent, now)
	if err != nil {
		s.log.ErrorContext(ctx, "follow-on jobs refused; none created", "job_id", parent.ID, "err", err)
	}
	for _, c := range children {
		ev := &farm.JobEvent{JobID: c.ID, Seq: farm.SeqFor(c.Version), At: now, To: c.Status, Actor: "dispatcher", Detail: "follow-on of " + parent.ID, ExpiresAt: s.eventExpiry(now)}
		err := s.store.Commit(ctx, Tx{Jobs: []JobWrite{{Next: c, Event: ev}}})
		if errors.Is(err, ErrLostRace) {
			continue // created already
		}
		if err != nil {
			return err
		}
		s.ring(ctx, c, 0)
	}
	return retryOnConflict(ctx, func() error {
		parent, err := s.store.GetJob(ctx, parentID)
		if err != nil || parent.FollowOnsCreated {
			return err
		}
		next := parent.Touched()
		next.FollowOnsCreated = true
		return s.store.Commit(ctx, Tx{Jobs: []JobWrite{{Prev: parent, Next: next}}})
	})
}

// declaresFollowOns reports whether a job's type and payload ask for
// follow-on jobs (most jobs do not, and are then never read or written again).
func (s *Scheduler) declaresFollowOns(job *farm.Job) bool {
	specs, err := s.followOnSpecs(job)
	return err != nil || len(specs) > 0
}

// followOnSpecs are the follow-on jobs job's type declares for its payload.
func (s *Scheduler) followOnSpecs(job *farm.Job) ([]farm.FollowOn, error) {
	typ, err := s.registry.Lookup(job.Type)
	if err != nil {
		return nil, err
	}
	args, err := typ.Parse(job.Payload)
	if err != nil {
		return nil, err
	}
	return typ.FollowOns(args, job)
}

// followOnJobs builds (without storing) the follow-on jobs of parent.
func (s *Scheduler) followOnJobs(parent *farm.Job, now time.Time) ([]*farm.Job, error) {
	specs, err := s.followOnSpecs(parent)
	if err != nil {
		return nil, err
	}
	var out []*farm.Job
	for i, f := range specs {
		prio := f.Priority
		j, err := s.newJob(SubmitRequest{Type: f.Type, Payload: f.Payload, Priority: &prio, RequestedBy: parent.RequestedBy, ParentID: parent.ID, Internal: true}, now)
		if err != nil {
			return nil, fmt.Errorf("follow-on %d: %w", i, err)
		}
		finished := now
		if parent.FinishedAt != nil {
			finished = *parent.FinishedAt
		}
		j.ID = farm.DerivedID(finished, fmt.Sprintf("%s/follow-on/%d", parent.ID, i))
		j.QueuedAt = farm.TimePtr(now)
		out = append(out, j)
	}
	return out, nil
}
