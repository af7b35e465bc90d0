// Package followup is the work that follows a job's change of state, run
// the same way by whoever saw the change: the API right after it, the
// stream dispatcher for every change the jobs table reports, and the
// reaper's sweep for whatever both missed. A queued job's pool is rung; a
// waiting job is released or failed once its dependencies end; a finished
// job releases the jobs waiting on it and, when it succeeded, creates its
// follow-on jobs; a clean-resource job moves the resource it cleans.
// Everything here is safe to run any number of times for the same state.
package followup

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service does the follow-up work of job changes.
type Service struct {
	store Store
	bell  Doorbell
	admit *admission.Admission
	jobs  store.JobWriter
	log   *slog.Logger
}

// Options configure a Service.
type Options struct {
	Store     Store
	Doorbell  Doorbell // nil rings nothing (tests)
	Admission *admission.Admission
	Policy    farm.Policy
	Clock     func() time.Time // default time.Now
	Logger    *slog.Logger     // default slog.Default()
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, bell: o.Doorbell, admit: o.Admission, log: o.Logger,
		jobs: store.JobWriter{Store: o.Store, Policy: o.Policy.WithDefaults(), Clock: o.Clock}}
	if s.bell == nil {
		s.bell = silentBell{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.jobs.Clock == nil {
		s.jobs.Clock = time.Now
	}
	return s
}

type silentBell struct{}

func (silentBell) Ring(context.Context, string, string, time.Duration) error { return nil }

// Ring wakes the builders of job's pool. A failed ring is logged, not
// returned: the job is safe in the store, and the dispatcher or the reaper
// rings again.
func (s *Service) Ring(ctx context.Context, job *farm.Job, delay time.Duration) {
	if err := s.bell.Ring(ctx, job.Pool, job.ID, delay); err != nil {
		s.log.WarnContext(ctx, "doorbell failed; the dispatcher or reaper will ring again", "job_id", job.ID, "pool", job.Pool, "err", err)
	}
}

// After does the follow-up work of a job's current state, logging a
// failure: the dispatcher and the reaper do it again.
func (s *Service) After(ctx context.Context, job *farm.Job) {
	if err := s.FollowUp(ctx, job); err != nil {
		s.log.WarnContext(ctx, "follow-up work failed; it is retried by the dispatcher and the reaper", "job_id", job.ID, "status", job.Status, "err", err)
	}
}

// FollowUp does the follow-up work of a job's current state and returns
// its error, for callers that retry (the dispatcher reports the stream
// record as failed):
//
//   - queued: ring the pool's doorbell, if the job is still queued when read
//     (so the dispatcher does not ring again for a job already claimed);
//   - waiting: release or fail it if its dependencies have finished;
//   - finished: re-evaluate the jobs waiting on it; create the follow-on jobs
//     of a job that succeeded; settle the resource a clean-resource job cleaned.
func (s *Service) FollowUp(ctx context.Context, job *farm.Job) error {
	switch {
	case job.Status == farm.StatusQueued:
		err := s.ringIfQueued(ctx, job.ID)
		if job.Type == farm.TypeCleanResource {
			err = errors.Join(err, s.SettleClean(ctx, job))
		}
		return err
	case job.Status.Active() && job.Type == farm.TypeCleanResource:
		return s.SettleClean(ctx, job)
	case job.Status == farm.StatusWaiting:
		return s.EvaluateWaiting(ctx, job.ID)
	case job.Status.Terminal():
		errs := []error{s.releaseDependents(ctx, job.ID)}
		if job.Status == farm.StatusSucceeded && !job.FollowOnsCreated && s.declaresFollowOns(job) {
			if err := s.createFollowOns(ctx, job.ID); err != nil {
				errs = append(errs, err)
			}
		}
		if job.Type == farm.TypeCleanResource {
			if err := s.SettleClean(ctx, job); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

func (s *Service) ringIfQueued(ctx context.Context, id string) error {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if job.Status != farm.StatusQueued {
		return nil
	}
	var delay time.Duration
	if job.NotBefore != nil {
		delay = job.NotBefore.Sub(s.jobs.Now())
	}
	return s.bell.Ring(ctx, job.Pool, job.ID, delay)
}
