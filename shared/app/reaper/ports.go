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
	// DueJobs lists running jobs whose reap_at passed before now (the
	// reap index: reap_at is at the latest their lease's end or deadline).
	DueJobs(ctx context.Context, now time.Time, limit int) ([]string, error)
	// ActiveJobs lists running jobs (limit 1: is any running?).
	ActiveJobs(ctx context.Context, builder string, limit int) ([]store.ActiveJob, error)
}

// Builders keeps the builders' health (app/builders.Service).
type Builders interface {
	// Amend applies change to the builder (blame for a lost lease).
	Amend(ctx context.Context, builder string, change func(*farm.Builder))
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
