package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// MaxLogBytes bounds the log GetJobLog reads.
const MaxLogBytes = 256 << 20

// Health is GET /v1/health (no token needed).
func (c *Client) Health(ctx context.Context) (*apiv1.Health, error) {
	var out apiv1.Health
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("health")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OpenAPI is GET /v1/openapi.json: the raw OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path("openapi.json")})
	if err != nil {
		return nil, err
	}
	defer resp.body.Close()
	return io.ReadAll(io.LimitReader(resp.body, MaxResponseBytes))
}

// SubmitJob is POST /v1/jobs. A non-empty idempotencyKey is sent as the
// Idempotency-Key header. created is true for a new job (201) and false when
// the key had already made this job (200).
func (c *Client) SubmitJob(ctx context.Context, req apiv1.SubmitJobRequest, idempotencyKey string) (job *farm.Job, created bool, err error) {
	r := request{method: http.MethodPost, path: path("jobs"), body: req}
	if idempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	job = new(farm.Job)
	status, err := c.do(ctx, r, job)
	if err != nil {
		return nil, false, err
	}
	return job, status == http.StatusCreated, nil
}

// GetJob is GET /v1/jobs/{id}.
func (c *Client) GetJob(ctx context.Context, id string) (*farm.Job, error) {
	return c.job(ctx, request{method: http.MethodGet, path: path("jobs", id)})
}

// ListJobsOptions filters GET /v1/jobs; zero fields are not sent.
type ListJobsOptions struct {
	Status string
	Type   string
	Pool   string
	// RequestedBy is an actor, as in a job's requested_by (see WhoAmI).
	RequestedBy string
	Limit       int
	Cursor      string
}

// ListJobs is GET /v1/jobs: one page, newest first; pass NextCursor back for the next.
func (c *Client) ListJobs(ctx context.Context, opts ListJobsOptions) (*apiv1.JobList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": opts.Status, "type": opts.Type, "pool": opts.Pool, "requested_by": opts.RequestedBy, "cursor": opts.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out apiv1.JobList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("jobs"), query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JobEvents is GET /v1/jobs/{id}/events: the job's history, oldest first.
func (c *Client) JobEvents(ctx context.Context, id string) ([]farm.JobEvent, error) {
	var out apiv1.EventList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("jobs", id, "events")}, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// JobLog is GET /v1/jobs/{id}/log: the tail while the job runs, the full log after.
func (c *Client) JobLog(ctx context.Context, id string) (string, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path("jobs", id, "log")})
	if err != nil {
		return "", err
	}
	defer resp.body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.body, MaxLogBytes))
	return string(b), err
}

// CancelJob is POST /v1/jobs/{id}/cancel.
func (c *Client) CancelJob(ctx context.Context, id string) (*farm.Job, error) {
	return c.job(ctx, request{method: http.MethodPost, path: path("jobs", id, "cancel")})
}

// RetryJob is POST /v1/jobs/{id}/retry.
func (c *Client) RetryJob(ctx context.Context, id string) (*farm.Job, error) {
	return c.job(ctx, request{method: http.MethodPost, path: path("jobs", id, "retry")})
}

// ScoreJob is POST /v1/jobs/{id}/score: pins the job's score.
func (c *Client) ScoreJob(ctx context.Context, id string, score int64) (*farm.Job, error) {
	return c.job(ctx, request{method: http.MethodPost, path: path("jobs", id, "score"), body: apiv1.ScoreRequest{Score: &score}})
}

// CompleteJob is POST /v1/jobs/{id}/complete, fenced by the claim token: a
// stale or foreign token is a conflict (409).
func (c *Client) CompleteJob(ctx context.Context, id string, req apiv1.CompleteRequest) (*farm.Job, error) {
	return c.job(ctx, request{method: http.MethodPost, path: path("jobs", id, "complete"), body: req})
}

// ArtifactURL is POST /v1/jobs/{id}/artifacts: a presigned upload for one
// artifact (or, with Kind "log", for the job's full log).
func (c *Client) ArtifactURL(ctx context.Context, id string, req apiv1.ArtifactURLRequest) (*apiv1.ArtifactURL, error) {
	var out apiv1.ArtifactURL
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path("jobs", id, "artifacts"), body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Queue is GET /v1/queue: per pool, what waits, what runs and who serves it.
func (c *Client) Queue(ctx context.Context) (*apiv1.QueueSummary, error) {
	var out apiv1.QueueSummary
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("queue")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) job(ctx context.Context, req request) (*farm.Job, error) {
	var out farm.Job
	if _, err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
