package jobs

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// fillWaitingFor sets a waiting job's WaitingFor: its dependencies that
// have not ended yet (at most admission.MaxDependsOn reads). One that ended
// is left out even before the job is released (or failed) by its
// follow-up; one that cannot be read is kept.
func (s *Service) fillWaitingFor(ctx context.Context, job *farm.Job) {
	if job.Status != farm.StatusWaiting {
		return
	}
	job.WaitingFor = []string{}
	for _, id := range job.DependsOn {
		dep, err := s.store.GetJob(ctx, id)
		if farm.IsCode(err, farm.ENotFound) {
			continue
		}
		if err != nil || !dep.Status.Terminal() {
			job.WaitingFor = append(job.WaitingFor, id)
		}
	}
}
