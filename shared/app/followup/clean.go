package followup

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// cleanActor retries clean jobs that failed.
const cleanActor = "resource-pools"

// SettleClean moves the resource a clean-resource job works on: cleaning
// while the job runs, free when it succeeded, and when it failed dirty
// again with the job retried, until farm.MaxCleanFailures flags it for an
// admin (who may retry the clean job by hand). The resources service reads
// resources through it, so that no reader sees a resource lag behind a
// clean job that already ended.
func (s *Service) SettleClean(ctx context.Context, job *farm.Job) error {
	var args farm.CleanResourceArgs
	if err := json.Unmarshal(job.Payload, &args); err != nil {
		return fmt.Errorf("clean job %s: %w", job.ID, err)
	}
	retry := false
	err := store.RetryOnConflict(ctx, func() error {
		retry = false
		r, err := s.store.GetResource(ctx, args.ResourcePool, args.Resource)
		if farm.IsCode(err, farm.ENotFound) {
			return nil
		}
		if err != nil || r.CleanJobID != job.ID || job.Version <= r.CleanJobVersion {
			return err // a stale clean job, or a change already followed
		}
		if job.Status.Active() && r.State == farm.ResourceCleaning {
			return nil // a change of no state (a heartbeat): the resource is being cleaned already
		}
		next := r.Clone()
		next.CleanJobVersion = job.Version
		switch {
		case job.Status.Active():
			next.State = farm.ResourceCleaning
		case job.Status == farm.StatusSucceeded:
			next.State, next.CleanJobID, next.CleanFailures, next.Flagged = farm.ResourceFree, "", 0, ""
		case job.Status.Terminal():
			next.State = farm.ResourceDirty
			next.CleanFailures++
			if next.CleanFailures >= farm.MaxCleanFailures {
				next.Flagged = fmt.Sprintf("cleaning failed %d times (last: job %s %s: %s); retry the clean job once the resource is fixed", next.CleanFailures, job.ID, job.Status, job.Error)
			} else {
				retry = true
			}
		default:
			next.State = farm.ResourceDirty
		}
		next.UpdatedAt, next.Version = s.jobs.Now(), r.Version+1
		return s.store.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Prev: r, Next: next}}})
	})
	if err == nil && retry {
		err = s.retryClean(ctx, job.ID)
	}
	return err
}

// retryClean requeues a clean job that failed, then follows its new state.
func (s *Service) retryClean(ctx context.Context, id string) error {
	job, err := s.jobs.Transition(ctx, id, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		return j.Retry(cleanActor, now)
	})
	if err != nil {
		return err
	}
	s.After(ctx, job)
	return nil
}
