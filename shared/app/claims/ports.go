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
	// CompleteJob writes a completion as a patch of the job as presumed.
	CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error)
	// QueuedJobs lists a pool's queued jobs in dispatch order.
	QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error)
	GetBuilder(ctx context.Context, name string) (*farm.Builder, error)
	// AppendLogChunk stores a piece of a running job's log.
	AppendLogChunk(ctx context.Context, c farm.LogChunk) error
	// ActiveJobs lists the jobs a builder holds (the reap index): a claim
	// whose caller does not say how many its builder holds counts them.
	ActiveJobs(ctx context.Context, builder string, limit int) ([]store.ActiveJob, error)
}

// Builders keeps the builders' health and liveness (app/builders.Service).
type Builders interface {
	// Claimant reads a builder as a claim checks it (a record seconds old at most).
	Claimant(ctx context.Context, name string) (*farm.Builder, error)
	// AfterRun records what a finished run changes on its builder, if anything.
	AfterRun(ctx context.Context, builder string, job *farm.Job, dirties bool)
	// Beat records a heartbeat and how many jobs the builder finished
	// since its last one; drain tells it to claim no more.
	Beat(ctx context.Context, builder string, completed int, draining bool, now time.Time) (drain bool, err error)
}

// FollowUp is the work after a job's change (app/followup.Service).
type FollowUp interface {
	After(ctx context.Context, job *farm.Job)
	Ring(ctx context.Context, job *farm.Job, delay time.Duration)
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
