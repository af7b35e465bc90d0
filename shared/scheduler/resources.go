package scheduler

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// settleCleanedResource frees (or keeps dirty) the resource a finished
// clean-resource job cleaned.
func (s *Scheduler) settleCleanedResource(ctx context.Context, job *farm.Job) error {
	_ = ctx
	_ = job
	return nil
}

// expireResourceLeases takes resources back from holders whose lease ran out.
func (s *Scheduler) expireResourceLeases(ctx context.Context) (int, error) {
	_ = ctx
	return 0, nil
}
