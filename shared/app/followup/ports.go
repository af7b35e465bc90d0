package followup

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the follow-up work reads and writes.
type Store interface {
	Commit(ctx context.Context, tx store.Tx) error
	GetJob(ctx context.Context, id string) (*farm.Job, error)
	// Dependents lists the jobs registered as waiting for job id.
	Dependents(ctx context.Context, id string, limit int) ([]string, error)
	GetResource(ctx context.Context, pool, name string) (*farm.Resource, error)
}

// Doorbell wakes the builders of a pool. Rings are hints: losing or
// duplicating one never loses a job, since builders claim from the store
// (SQS messages in AWS: adapter/sqsdoorbell).
type Doorbell interface {
	Ring(ctx context.Context, pool, jobID string, delay time.Duration) error
}
