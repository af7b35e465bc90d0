package builders

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the builders service reads and writes.
type Store interface {
	Commit(ctx context.Context, tx store.Tx) error
	GetBuilder(ctx context.Context, name string) (*farm.Builder, error)
	// GetAuthGeneration reads the record a builder write that changes
	// what claims check bumps (commit).
	GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error)
	ListBuilders(ctx context.Context) ([]*farm.Builder, error)
	// GetJob tells which of a builder's jobs it still holds.
	GetJob(ctx context.Context, id string) (*farm.Job, error)
	// ListJobs finds the running jobs a restarted builder held.
	ListJobs(ctx context.Context, f store.JobFilter) (*store.JobPage, error)
	// ActiveJobs lists the jobs builders hold (the reap index): a
	// builder's current jobs are derived from it, never stored.
	ActiveJobs(ctx context.Context, builder string, limit int) ([]store.ActiveJob, error)
}

// FollowUp is the work after a job's change (app/followup.Service).
type FollowUp interface {
	After(ctx context.Context, job *farm.Job)
}

// Queues names the doorbell queue of each pool (adapter/sqsdoorbell.Bell),
// which a builder listens to once registered.
type Queues interface {
	QueueURLs(pools []string) map[string]string
}
