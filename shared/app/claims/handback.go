package claims

import (
	"context"
	"strings"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// HandBack requeues, for the caller holding its claim under token, a job
// its builder gives up through no fault of the job's (a spot interruption
// notice). The job comes back as by may see it.
func (s *Service) HandBack(ctx context.Context, by farm.Principal, id, token, reason string) (*farm.Job, error) {
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	builder, err := claimHolder(by, job, token)
	if err != nil {
		return nil, err
	}
	after, err := s.Requeue(ctx, builder, job.ID, token, reason)
	if err != nil {
		return nil, err
	}
	return s.registry.AsSeenBy(by, after), nil
}

// Requeue requeues a job builder gives up through no fault of the job's:
// at once, fenced by the claim token, the attempt not counted, the reason
// in the job's history. The pool's doorbell is rung, so another builder claims it now rather than after the lease. A
// stale or foreign token is a conflict and changes nothing.
func (s *Service) Requeue(ctx context.Context, builder, id, token, reason string) (*farm.Job, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, farm.FieldError("reason", "is required: say why the job is handed back")
	}
	if len(reason) > farm.MaxHandBackReason {
		return nil, farm.FieldError("reason", "is longer than %d characters", farm.MaxHandBackReason)
	}
	var after *farm.Job
	err := store.RetryOnConflict(ctx, func() error {
		job, err := s.store.GetJob(ctx, id)
		if err != nil {
			return err
		}
		next, ev, err := job.HandBack(builder, token, reason, s.jobs.Now())
		if err != nil {
			return err
		}
		if err := s.jobs.Write(ctx, job, next, ev); err != nil {
			return err
		}
		after = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.WarnContext(ctx, "job handed back by its builder", "job_id", id, "builder", builder, "reason", reason, "now", after.Status)
	// A requeued job's doorbell rings here.
	s.follow.After(ctx, after)
	return after, nil
}
