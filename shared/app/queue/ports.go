package queue

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the queue's outlook reads.
type Store interface {
	ListBuilders(ctx context.Context) ([]*farm.Builder, error)
	// ActiveJobs lists the running jobs (the reap index): which builders
	// are busy, and when the pools' slots free up.
	ActiveJobs(ctx context.Context, builder string, limit int) ([]store.ActiveJob, error)
	// QueuedJobs lists a pool's queued jobs in dispatch order.
	QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) (*store.JobPage, error)
	// RecentStarts lists the times to start of a pool's jobs started since.
	RecentStarts(ctx context.Context, pool string, since time.Time, limit int) ([]float64, error)
}
