// Package apiv1 holds the request and response bodies of the HTTP API v1:
// the wire contract shared by the server (httpapi) and the Go client.
// Jobs, builders, events and resources travel as the domain's own JSON.
package apiv1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// ErrorBody is every error response: {"error":{"code","message"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes one error. Field names the bad input field when known.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Health is GET /v1/health.
type Health struct {
	Status string `json:"status"`
}

// SubmitJobRequest is POST /v1/jobs.
type SubmitJobRequest struct {
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
	Priority       *int64          `json:"priority,omitempty"`
	MaxAttempts    *int            `json:"max_attempts,omitempty"`
	TimeoutSeconds *int            `json:"timeout_seconds,omitempty"`
	DependsOn      []string        `json:"depends_on,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

// JobList is GET /v1/jobs: newest first.
type JobList struct {
	Jobs       []*farm.Job `json:"jobs"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// EventList is GET /v1/jobs/{id}/events: oldest first.
type EventList struct {
	Events []farm.JobEvent `json:"events"`
}

// ScoreRequest is POST /v1/jobs/{id}/score.
type ScoreRequest struct {
	Score *int64 `json:"score"`
}

// QueueSummary is GET /v1/queue.
type QueueSummary struct {
	Pools []PoolSummary `json:"pools"`
}

// PoolSummary is one builder pool's queue.
type PoolSummary struct {
	Pool              string     `json:"pool"`
	Waiting           int        `json:"waiting"`
	Queued            int        `json:"queued"`
	Running           int        `json:"running"`
	BuildersIdle      int        `json:"builders_idle"`
	BuildersBusy      int        `json:"builders_busy"`
	BuildersOther     int        `json:"builders_unavailable"`
	Slots             int        `json:"slots"`
	OldestWaitSeconds float64    `json:"oldest_wait_seconds"`
	EstimatedStartAt  *time.Time `json:"estimated_start_at,omitempty"`
	// TimeToStartP50Seconds and TimeToStartP90Seconds are percentiles of
	// how long the jobs that started in the last hour had waited; both are
	// 0 when StartedLastHour is.
	TimeToStartP50Seconds float64 `json:"time_to_start_p50_seconds"`
	TimeToStartP90Seconds float64 `json:"time_to_start_p90_seconds"`
	StartedLastHour       int     `json:"started_last_hour"`
}

// BuilderRegistration is the answer to PUT /v1/builders/{name}: the builder,
// the doorbell queue URL of each of its pools and its heartbeat timing.
type BuilderRegistration struct {
	*farm.Builder
	QueueURLs        map[string]string `json:"queue_urls"`
	HeartbeatSeconds int               `json:"heartbeat_seconds"`
	LeaseSeconds     int               `json:"lease_seconds"`
}

// BuilderList is GET /v1/builders.
type BuilderList struct {
	Builders []*farm.Builder `json:"builders"`
}

// ClaimRequest is POST /v1/builders/{name}/claim.
type ClaimRequest struct {
	Pool string `json:"pool"`
	// JobsHeld is how many jobs the builder's agent holds now, by its own
	// count: the farm refuses the claim (409) when they fill the builder's
	// slots, and counts them itself (one more read) when it is absent.
	JobsHeld *int `json:"jobs_held,omitempty"`
}

// ClaimResponse is a successful claim (200). No job is 204 with no body.
type ClaimResponse struct {
	Job            *farm.Job `json:"job"`
	ClaimToken     string    `json:"claim_token"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	// SourceURL is a presigned GET URL of the job's s3:// source, when it has one.
	SourceURL string `json:"source_url,omitempty"`
	// LogUpload is a presigned PUT of this run's whole log, for a log over
	// farm.MaxInlineLog bytes (a smaller one travels in the completion).
	LogUpload *ArtifactURL `json:"log_upload,omitempty"`
	// MoreQueued says whether the pool held another job this builder could
	// claim when the claim looked (or more than it read): true, claim
	// again when a slot is free; false, wait for a doorbell. The farm
	// always sends it; nil (a farm that predates it) is taken as true.
	MoreQueued *bool `json:"more_queued,omitempty"`
}

// HeartbeatRequest is POST /v1/builders/{name}/heartbeat.
type HeartbeatRequest struct {
	Jobs []HeartbeatJob `json:"jobs"`
	// Draining tells the farm the builder claims no more work (it is stopping).
	Draining bool `json:"draining,omitempty"`
	// JobsCompleted counts the jobs the builder finished since its last
	// answered heartbeat: completions write no builder item, so the
	// builder's jobs_completed grows with its heartbeats.
	JobsCompleted int `json:"jobs_completed,omitempty"`
}

// HeartbeatJob renews one job's lease and appends to its log.
type HeartbeatJob struct {
	ID         string `json:"id"`
	ClaimToken string `json:"claim_token"`
	Log        string `json:"log,omitempty"`
	// LogOffset is where Log starts in the run's log, in bytes as the
	// builder counts them: the farm stores each heartbeat's log as one
	// chunk keyed by it (a heartbeat sent again rewrites its chunk).
	LogOffset *int64 `json:"log_offset,omitempty"`
	Progress  string `json:"progress,omitempty"`
}

// Directive actions in a heartbeat response.
const (
	// ActionCancel: stop the job (kill it) and report it cancelled. Also sent
	// for a job whose claim is no longer valid; its result will be refused.
	ActionCancel = "cancel"
	// ActionReregister: the farm does not know this builder; PUT it again.
	ActionReregister = "reregister"
)

// Directive tells the builder to do something.
type Directive struct {
	JobID  string `json:"job_id,omitempty"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// ClaimLost is set on a cancel for a job whose claim is gone (the farm
	// gave it to another builder, or it timed out): stop it and do not
	// report; a plain cancel (a user's) is reported as cancelled.
	ClaimLost bool `json:"claim_lost,omitempty"`
}

// HeartbeatResponse carries the new lease and directives.
type HeartbeatResponse struct {
	LeaseExpiresAt   time.Time   `json:"lease_expires_at"`
	Directives       []Directive `json:"directives"`
	Drain            bool        `json:"drain"`
	HeartbeatSeconds int         `json:"heartbeat_seconds"`
	LeaseSeconds     int         `json:"lease_seconds"`
	// Renewed lists the jobs whose lease the heartbeat renewed, with the
	// version each renewal gave the job: what a completion presumes
	// (CompleteRequest.Version).
	Renewed []RenewedJob `json:"renewed,omitempty"`
}

// RenewedJob is a job whose lease a heartbeat renewed, at its new version.
type RenewedJob struct {
	JobID   string `json:"job_id"`
	Version int64  `json:"version"`
}

// CompleteRequest is POST /v1/jobs/{id}/complete.
type CompleteRequest struct {
	ClaimToken string `json:"claim_token"`
	// Result is succeeded or failed (cancelled for a job being cancelled).
	Result   string `json:"result"`
	Error    string `json:"error,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	// Artifacts names files uploaded through artifact URLs, each as a name
	// or as {"name","sha256"}.
	Artifacts []ArtifactRef `json:"artifacts,omitempty"`
	// Log is the last part of the log not yet sent by a heartbeat or, with
	// LogComplete, the whole log (at most farm.MaxInlineLog bytes: stored
	// in the job by the completion itself).
	Log         string `json:"log,omitempty"`
	LogComplete bool   `json:"log_complete,omitempty"`
	// LogUploaded says the whole log (LogSize bytes) was PUT to the
	// claim's log_upload URL.
	LogUploaded bool  `json:"log_uploaded,omitempty"`
	LogSize     int64 `json:"log_size,omitempty"`
	// Version and Run are the job's version and run as the builder last
	// learnt them (the claim answer's job; a heartbeat answer's Renewed).
	// Optional: with them the farm records the completion in one write
	// conditional on them and no read; where they no longer hold (a cancel
	// or a heartbeat came between) it decides from the job as stored.
	Version int64 `json:"version,omitempty"`
	Run     int   `json:"run,omitempty"`
}

// ArtifactRef names an uploaded artifact in a completion, with the SHA-256
// (hex) of its content. On the wire it is {"name","sha256"?} or, as older
// builders send it, the bare name.
type ArtifactRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256,omitempty"`
	// Size is the uploaded object's size in bytes; VersionID the object
	// version its upload created (S3's x-amz-version-id) on a versioned
	// bucket. The farm records them as declared.
	Size      int64  `json:"size,omitempty"`
	VersionID string `json:"version_id,omitempty"`
}

// UnmarshalJSON accepts a name or a strict {"name","sha256"?,"size"?,"version_id"?} object.
func (a *ArtifactRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*a = ArtifactRef{}
		return json.Unmarshal(b, &a.Name)
	}
	type plain ArtifactRef
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("an artifact is a name or {\"name\",\"sha256\"}: %w", err)
	}
	*a = ArtifactRef(p)
	return nil
}

// ArtifactNames makes refs of bare names.
func ArtifactNames(names ...string) []ArtifactRef {
	out := make([]ArtifactRef, len(names))
	for i, n := range names {
		out[i] = ArtifactRef{Name: n}
	}
	return out
}

// ArtifactInfo is one artifact of GET /v1/jobs/{id}/artifacts.
type ArtifactInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Attempt is the run of the job that uploaded it (the job's run).
	Attempt int `json:"attempt"`
}

// ArtifactList is GET /v1/jobs/{id}/artifacts: every kept artifact, by run then name.
type ArtifactList struct {
	Artifacts []ArtifactInfo `json:"artifacts"`
}

// ArtifactDownload is GET /v1/jobs/{id}/artifacts/{name}?redirect=false:
// the presigned download the redirect would have named.
type ArtifactDownload struct {
	ArtifactInfo
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// WhoAmI is GET /v1/whoami: the caller's identity.
type WhoAmI struct {
	// Actor is how the caller appears in requested_by and job history.
	Actor   string `json:"actor"`
	Role    string `json:"role"`
	TokenID string `json:"token_id,omitempty"`
	Builder string `json:"builder,omitempty"`
}

// ResourcePoolList is GET /v1/resource-pools.
type ResourcePoolList struct {
	Pools []*farm.ResourcePool `json:"pools"`
}

// ArtifactURLRequest is POST /v1/jobs/{id}/artifacts.
type ArtifactURLRequest struct {
	ClaimToken string `json:"claim_token"`
	Name       string `json:"name"`
	// Kind is "artifact" (default) or "log": the job's full log, uploaded before completing.
	Kind string `json:"kind,omitempty"`
}

// ArtifactURL is a presigned upload.
type ArtifactURL struct {
	Name      string            `json:"name"`
	Key       string            `json:"key"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// ReasonRequest is POST /v1/builders/{name}/disable and /enable.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// TokenRequest is POST /v1/tokens.
type TokenRequest struct {
	Role    string `json:"role"`
	Builder string `json:"builder,omitempty"`
	// Pools bind a builder token: the only pools its builder may register
	// for and claim from.
	Pools []string `json:"pools,omitempty"`
	// ExpiresInSeconds ends the token that long after it is issued.
	ExpiresInSeconds *int64 `json:"expires_in_seconds,omitempty"`
	Name             string `json:"name,omitempty"`
}

// TokenResponse shows a new token's secret, once.
type TokenResponse struct {
	Token     string     `json:"token"`
	ID        string     `json:"id"`
	Role      string     `json:"role"`
	Builder   string     `json:"builder,omitempty"`
	Pools     []string   `json:"pools,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// TokenList is GET /v1/tokens: the tokens that work, oldest first, never
// their secrets.
type TokenList struct {
	Tokens []*farm.Token `json:"tokens"`
}

// ResourcePoolRequest is PUT /v1/resource-pools/{pool}.
type ResourcePoolRequest struct {
	Description  *string `json:"description,omitempty"`
	LeaseSeconds *int    `json:"lease_seconds,omitempty"`
	CleanScript  *string `json:"clean_script,omitempty"`
}

// AddResourceRequest is POST /v1/resource-pools/{pool}/resources.
type AddResourceRequest struct {
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// ResourcePoolView is GET /v1/resource-pools/{pool}.
type ResourcePoolView struct {
	*farm.ResourcePool
	Resources []*farm.Resource `json:"resources"`
}

// AcquireRequest is POST /v1/resource-pools/{pool}/acquire.
type AcquireRequest struct {
	Holder       string `json:"holder"`
	LeaseSeconds int    `json:"lease_seconds,omitempty"`
}

// AcquireResponse hands a resource to its holder.
type AcquireResponse struct {
	Resource       *farm.Resource `json:"resource"`
	LeaseToken     string         `json:"lease_token"`
	LeaseExpiresAt time.Time      `json:"lease_expires_at"`
}

// ReleaseRequest is POST /v1/resource-pools/{pool}/resources/{name}/release.
type ReleaseRequest struct {
	LeaseToken string `json:"lease_token"`
}

// DoorbellKind is the kind of every doorbell message.
const DoorbellKind = "job-ready"

// Doorbell is the SQS message that wakes a pool's builders. It is a hint:
// safe to duplicate or lose; the jobs table is the truth.
type Doorbell struct {
	Kind  string `json:"kind"`
	Pool  string `json:"pool"`
	JobID string `json:"job_id"`
}

// HeartbeatConflict is the 409 answer to a heartbeat that carried a stale or
// foreign claim: the valid jobs were still renewed, and the directives tell
// the builder to stop the jobs it no longer owns.
type HeartbeatConflict struct {
	ErrorBody
	HeartbeatResponse
}
