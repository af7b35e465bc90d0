// Package followup is the work that follows a job's change of state, run
// the same way by whoever saw the change: the API right after it, the
// stream dispatcher for the changes its filter passes (from the record's
// image; it never rings), and the reaper's sweep for whatever both missed.
// A queued job's pool is rung by whoever wrote it queued; a waiting job is
// released or failed once its dependencies end; a finished job releases the
// jobs waiting on it (if any registered: farm.Job.HasDependents) and, when
// it succeeded, creates its follow-on jobs; a clean-resource job moves the
// resource it cleans. A job nothing follows costs no call. Everything here
// is safe to run any number of times for the same state.
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
// returned: the job is safe in the store, and the reaper's stale-queue
// sweep rings again.
func (s *Service) Ring(ctx context.Context, job *farm.Job, delay time.Duration) {
	if err := s.bell.Ring(ctx, job.Pool, job.ID, delay); err != nil {
		s.log.WarnContext(ctx, "doorbell failed; the reaper's stale-queue sweep will ring again", "job_id", job.ID, "pool", job.Pool, "err", err)
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
// its error, for callers that retry:
//
//   - queued: ring the pool's doorbell (the caller just wrote the job so);
//   - waiting: release or fail it if its dependencies have finished;
//   - finished: re-evaluate the jobs waiting on it, if any registered
//     (HasDependents); create the follow-on jobs of a job that succeeded
//     and declares some; settle the resource a clean-resource job cleaned.
//
// A job with nothing of that costs no AWS call.
func (s *Service) FollowUp(ctx context.Context, job *farm.Job) error {
	return s.followUp(ctx, job, true)
}

// FollowUpChange does the follow-up work of a change the jobs table's
// stream reported, from the job as the change left it (the record's new
// image: no read-back). It never rings: whoever wrote a job queued rang,
// and the reaper's stale-queue sweep covers a writer that died first.
// Replays and duplicates are harmless: every step checks the state it
// changes.
func (s *Service) FollowUpChange(ctx context.Context, job *farm.Job) error {
	return s.followUp(ctx, job, false)
}

func (s *Service) followUp(ctx context.Context, job *farm.Job, ring bool) error {
	switch {
	case job.Status == farm.StatusQueued:
		var err error
		if ring {
			err = s.ringQueued(ctx, job)
		}
		if job.Type == farm.TypeCleanResource {
			err = errors.Join(err, s.SettleClean(ctx, job))
		}
		return err
	case job.Status.Active() && job.Type == farm.TypeCleanResource:
		return s.SettleClean(ctx, job)
	case job.Status == farm.StatusWaiting:
		return s.EvaluateWaiting(ctx, job.ID)
	case job.Status.Terminal():
		var errs []error
		if job.HasDependents {
			errs = append(errs, s.releaseDependents(ctx, job.ID))
		}
		if job.Status == farm.StatusSucceeded && !job.FollowOnsCreated && s.declaresFollowOns(job) {
			errs = append(errs, s.createFollowOns(ctx, job))
		}
		if job.Type == farm.TypeCleanResource {
			errs = append(errs, s.SettleClean(ctx, job))
		}
		return errors.Join(errs...)
	}
	return nil
}

// ringQueued rings for a job its caller just wrote queued, after its
// not-before time.
func (s *Service) ringQueued(ctx context.Context, job *farm.Job) error {
	var delay time.Duration
	if job.NotBefore != nil {
		delay = job.NotBefore.Sub(s.jobs.Now())
	}
	return s.bell.Ring(ctx, job.Pool, job.ID, delay)
}
