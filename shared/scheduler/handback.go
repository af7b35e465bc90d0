package scheduler

import (
	"context"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// HandBack requeues a job its builder gives up through no fault of the
// job's (a spot interruption notice): at once, fenced by the claim token, the
// attempt not counted, the reason in the job's history. The builder's slot
// is freed and the pool's doorbell rung, so another builder claims it now
// rather than after the lease. A stale or foreign token is a conflict and
// changes nothing.
func (s *Scheduler) HandBack(ctx context.Context, builderName, jobID, token, reason string) (*farm.Job, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, farm.FieldError("reason", "is required: say why the job is handed back")
	}
	if len(reason) > farm.MaxHandBackReason {
		return nil, farm.FieldError("reason", "is longer than %d characters", farm.MaxHandBackReason)
	}
	var after *farm.Job
	err := retryOnConflict(ctx, func() error {
		job, err := s.store.GetJob(ctx, jobID)
		if err != nil {
			return err
		}
		next, ev, err := job.HandBack(builderName, token, reason, s.clock())
		if err != nil {
			return err
		}
		if err := s.write(ctx, job, next, ev); err != nil {
			return err
		}
		after = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.releaseSlot(ctx, builderName, jobID, nil)
	s.log.WarnContext(ctx, "job handed back by its builder", "job_id", jobID, "builder", builderName, "reason", reason, "now", after.Status)
	// A requeued job's doorbell rings here (AfterTransition).
	s.AfterTransition(ctx, after)
	return after, nil
}
