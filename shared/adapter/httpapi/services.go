package httpapi

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/app/queue"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The services the API serves. Handlers translate a request into one call
// of these and its result into a response; everything else is theirs.

// Jobs is the submitter's side of the farm (app/jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, req admission.Request) (*farm.Job, bool, error)
	Get(ctx context.Context, by farm.Principal, id string) (*farm.Job, error)
	List(ctx context.Context, by farm.Principal, f store.JobFilter) (*store.JobPage, error)
	Events(ctx context.Context, id string) ([]farm.JobEvent, error)
	Log(ctx context.Context, id string) (*jobs.Log, error)
	Artifacts(ctx context.Context, id string) ([]farm.Artifact, error)
	ArtifactDownload(ctx context.Context, id, name string, attempt int) (farm.Artifact, *blobs.Presigned, error)
	Cancel(ctx context.Context, by farm.Principal, id string) (*farm.Job, error)
	Retry(ctx context.Context, by farm.Principal, id string) (*farm.Job, error)
	PinScore(ctx context.Context, by farm.Principal, id string, score int64) (*farm.Job, error)
}

// Claims is the builder's side of a job (app/claims.Service).
type Claims interface {
	ClaimFor(ctx context.Context, by farm.Principal, builder, pool string, held int) (*claims.Claim, error)
	Beat(ctx context.Context, builder string, hb claims.Beat) (*claims.HeartbeatResult, error)
	UploadURL(ctx context.Context, by farm.Principal, id string, req claims.UploadRequest) (*claims.Upload, error)
	Complete(ctx context.Context, by farm.Principal, id string, r claims.Report) (*farm.Job, error)
	HandBack(ctx context.Context, by farm.Principal, id, token, reason string) (*farm.Job, error)
}

// Builders keeps the builders (app/builders.Service).
type Builders interface {
	Register(ctx context.Context, by farm.Principal, name string, spec farm.BuilderSpec) (*builders.Registration, error)
	Get(ctx context.Context, name string) (*farm.Builder, error)
	List(ctx context.Context) ([]*farm.Builder, error)
	Disable(ctx context.Context, by farm.Principal, name, reason string) (*farm.Builder, error)
	Enable(ctx context.Context, by farm.Principal, name, reason string) (*farm.Builder, error)
}

// Resources is the resource pools (app/resources.Service).
type Resources interface {
	PutPool(ctx context.Context, name string, u resources.PoolUpdate) (*farm.ResourcePool, bool, error)
	Pools(ctx context.Context) ([]*farm.ResourcePool, error)
	Pool(ctx context.Context, name string) (*farm.ResourcePool, []*farm.Resource, error)
	AddResource(ctx context.Context, pool, name string, attrs map[string]string) (*farm.Resource, error)
	Acquire(ctx context.Context, by farm.Principal, pool, holder string, leaseSeconds int) (*farm.Resource, error)
	Release(ctx context.Context, by farm.Principal, pool, name, leaseToken string) (*farm.Resource, error)
}

// Queue is the queue's outlook (app/queue.Service).
type Queue interface {
	Summary(ctx context.Context) ([]queue.PoolSummary, error)
}

// Tokens issues and checks bearer tokens (app/tokens.Service).
type Tokens interface {
	Authenticate(ctx context.Context, secret string) (farm.Principal, error)
	Issue(ctx context.Context, req tokens.IssueRequest) (string, *farm.Token, error)
	List(ctx context.Context) ([]*farm.Token, error)
	Revoke(ctx context.Context, by farm.Principal, id string) (*farm.Token, error)
}
