package resources

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the resources service reads and writes.
type Store interface {
	Commit(ctx context.Context, tx store.Tx) error
	GetResourcePool(ctx context.Context, name string) (*farm.ResourcePool, error)
	ListResourcePools(ctx context.Context) ([]*farm.ResourcePool, error)
	GetResource(ctx context.Context, pool, name string) (*farm.Resource, error)
	ListResources(ctx context.Context, pool string) ([]*farm.Resource, error)
	// ExpiredResourceLeases lists used resources whose holder's lease expired before now.
	ExpiredResourceLeases(ctx context.Context, now time.Time, limit int) ([]*farm.Resource, error)
	// GetJob reads the clean job of a resource being cleaned.
	GetJob(ctx context.Context, id string) (*farm.Job, error)
}

// Jobs creates the farm's own jobs (app/jobs.Service).
type Jobs interface {
	Create(ctx context.Context, job *farm.Job, now time.Time) error
}

// FollowUp is the work after a job's change (app/followup.Service).
type FollowUp interface {
	// SettleClean moves the resource a clean job works on.
	SettleClean(ctx context.Context, job *farm.Job) error
	Ring(ctx context.Context, job *farm.Job, delay time.Duration)
}
