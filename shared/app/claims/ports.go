package claims

import (
	"context"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/metrics"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is what the claims service reads and writes.
type Store interface {
	Commit(ctx context.Context, tx store.Tx) error
	GetJob(ctx context.Context, id string) (*farm.Job, error)
	// QueuedJobs lists a pool's queued jobs in dispatch order.
	QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error)
	GetBuilder(ctx context.Context, name string) (*farm.Builder, error)
	// AppendLogChunk stores a piece of a running job's log.
	AppendLogChunk(ctx context.Context, c farm.LogChunk) error
}

// Builders keeps the builders' slots and liveness (app/builders.Service).
type Builders interface {
	// TakeSlot records a claimed job on the builder as read, or refuses.
	TakeSlot(ctx context.Context, b *farm.Builder, job *farm.Job) error
	// ReleaseSlot frees a job's slot and applies change to the builder.
	ReleaseSlot(ctx context.Context, builder, jobID string, change func(*farm.Builder))
	// Beat records a heartbeat; drain tells the builder to claim no more.
	Beat(ctx context.Context, builder string, draining bool, now time.Time) (drain bool, err error)
}

// FollowUp is the work after a job's change (app/followup.Service).
type FollowUp interface {
	After(ctx context.Context, job *farm.Job)
	Ring(ctx context.Context, job *farm.Job, delay time.Duration)
}

// LeaseTimer wakes the reaper for one job when its lease is due, so a lost
// builder is noticed at its lease's end rather than at the next scheduled
// sweep (SQS delay messages in AWS: adapter/sqsdoorbell.LeaseTimer).
// Timers are hints: the sweep still finds every expired lease.
type LeaseTimer interface {
	Arm(ctx context.Context, jobID string, at time.Time) error
}

// Blobs is the object storage a job's run uses, only ever to presign (a
// local computation): source downloads, artifact and log uploads. Nothing
// here reads or writes an object: a completion trusts what the builder
// declares (see declaredArtifacts).
type Blobs interface {
	Bucket() string
	PresignPut(ctx context.Context, key string, ttl time.Duration) (*blobs.Presigned, error)
	PresignDownload(ctx context.Context, d blobs.Download, ttl time.Duration) (*blobs.Presigned, error)
}

// Metrics publishes measurements (app/metrics; CloudWatch EMF records in
// Lambda).
type Metrics = metrics.Publisher
