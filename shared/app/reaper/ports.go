package reaper

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the reaper reads and writes.
type Store interface {
	Commit(ctx context.Context, tx store.Tx) error
	GetJob(ctx context.Context, id string) (*farm.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) (*store.JobPage, error)
	QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error)
	// ExpiredLeases lists running jobs whose lease expired before now.
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]string, error)
	// OverdueJobs lists running jobs whose own timeout passed before now.
	OverdueJobs(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Builders keeps the builders' slots and health (app/builders.Service).
type Builders interface {
	ReleaseSlot(ctx context.Context, builder, jobID string, change func(*farm.Builder))
	// MarkLost marks builders silent for a lease as lost.
	MarkLost(ctx context.Context) (int, error)
}

// FollowUp is the work after a job's change (app/followup.Service).
type FollowUp interface {
	After(ctx context.Context, job *farm.Job)
	EvaluateWaiting(ctx context.Context, id string) error
}

// Resources takes back resources whose holder's lease ran out
// (app/resources.Service).
type Resources interface {
	ExpireLeases(ctx context.Context, limit int) (int, error)
}

// Doorbell wakes the builders of a pool (adapter/sqsdoorbell.Bell).
type Doorbell interface {
	Ring(ctx context.Context, pool, jobID string, delay time.Duration) error
}

// LeaseTimer wakes the reaper for one job when its lease is due
// (adapter/sqsdoorbell.LeaseTimer).
type LeaseTimer interface {
	Arm(ctx context.Context, jobID string, at time.Time) error
}
