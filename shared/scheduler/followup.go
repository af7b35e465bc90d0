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
	if err := s.afterTransition(ctx, job); err != nil {
		s.log.WarnContext(ctx, "follow-up work failed; it is retried by the dispatcher and the reaper", "job_id", job.ID, "status", job.Status, "err", err)
	}
}

func (s *Scheduler) afterTransition(ctx context.Context, job *farm.Job) error {
	switch {
	case job.Status == farm.StatusQueued:
		return s.ringIfQueued(ctx, job.ID)
	case job.Status == farm.StatusWaiting:
		return s.evaluateWaiting(ctx, job.ID)
	case job.Status.Terminal():
		var errs []error
		for _, id := range job.Dependents {
			if err := s.evaluateWaiting(ctx, id); err != nil {
				errs = append(errs, err)
			}
		}
		if job.Status == farm.StatusSucceeded && !job.FollowOnsCreated {
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

// createFollowOns creates the follow-on jobs of a succeeded job, once: the
// parent's follow_ons_created flag is set in the same transaction.
func (s *Scheduler) createFollowOns(ctx context.Context, parentID string) error {
	var created []*farm.Job
	err := retryOnConflict(ctx, func() error {
		created = nil
		parent, err := s.store.GetJob(ctx, parentID)
		if err != nil || parent.Status != farm.StatusSucceeded || parent.FollowOnsCreated {
			return err
		}
		now := s.clock()
		children, err := s.followOnJobs(parent, now)
		if err != nil {
			s.log.ErrorContext(ctx, "follow-on jobs refused; none created", "job_id", parent.ID, "err", err)
		}
		next := parent.Touched()
		next.FollowOnsCreated = true
		tx := Tx{Jobs: []JobWrite{{Prev: parent, Next: next}}}
		for _, c := range children {
			ev := &farm.JobEvent{JobID: c.ID, Seq: farm.SeqFor(c.Version), At: now, To: c.Status, Actor: "dispatcher", Detail: "follow-on of " + parent.ID, ExpiresAt: s.eventExpiry(now)}
			tx.Jobs = append(tx.Jobs, JobWrite{Next: c, Event: ev})
		}
		if tx.Size() > MaxTxItems {
			return farm.Errorf(farm.EInvalid, "job %s declares too many follow-on jobs", parent.ID)
		}
		if err := s.store.Commit(ctx, tx); err != nil {
			return err
		}
		created = children
		return nil
	})
	for _, c := range created {
		s.ring(ctx, c, 0)
	}
	return err
}

// followOnJobs builds (without storing) the follow-on jobs of parent.
func (s *Scheduler) followOnJobs(parent *farm.Job, now time.Time) ([]*farm.Job, error) {
	typ, err := s.registry.Lookup(parent.Type)
	if err != nil {
		return nil, err
	}
	args, err := typ.Parse(parent.Payload)
	if err != nil {
		return nil, err
	}
	specs, err := typ.FollowOns(args, parent)
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
		j.QueuedAt = farm.TimePtr(now)
		out = append(out, j)
	}
	return out, nil
}
