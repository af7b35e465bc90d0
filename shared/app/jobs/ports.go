package jobs

import (
	"context"
	"io"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the jobs service reads and writes.
type Store interface {
	Commit(ctx context.Context, tx store.Tx) error
	GetJob(ctx context.Context, id string) (*farm.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) (*store.JobPage, error)
	JobEvents(ctx context.Context, id string) ([]farm.JobEvent, error)
	// LogChunks lists the last limit log chunks of a run, in log order.
	LogChunks(ctx context.Context, id string, run, limit int) ([]farm.LogChunk, error)
	GetIdempotency(ctx context.Context, key string, now time.Time) (*farm.Idempotency, error)
	GetDependentTally(ctx context.Context, id string) (*store.DependentTally, error)
}

// FollowUp is the work after a job's change (app/followup.Service).
type FollowUp interface {
	// After does the follow-up work of job's current state.
	After(ctx context.Context, job *farm.Job)
	// EvaluateWaiting releases or fails a waiting job whose dependencies ended.
	EvaluateWaiting(ctx context.Context, id string) error
	// Ring wakes the builders of job's pool.
	Ring(ctx context.Context, job *farm.Job, delay time.Duration)
}

// Estimator fills in when queued jobs should start (app/queue.Service).
type Estimator interface {
	EstimateStarts(ctx context.Context, jobs []*farm.Job) error
}

// Blobs is the object storage the job reads use: stored logs and artifact
// downloads.
type Blobs interface {
	Get(ctx context.Context, key string) (io.ReadCloser, *blobs.Object, error)
	PresignGet(ctx context.Context, key string, ttl time.Duration) (*blobs.Presigned, error)
	PresignDownload(ctx context.Context, d blobs.Download, ttl time.Duration) (*blobs.Presigned, error)
}
