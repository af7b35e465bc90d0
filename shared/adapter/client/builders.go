package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RegisterBuilder is PUT /v1/builders/{name}: registers or updates a builder
// and returns its doorbell queues and heartbeat timing.
func (c *Client) RegisterBuilder(ctx context.Context, name string, spec farm.BuilderSpec) (*apiv1.BuilderRegistration, error) {
	var out apiv1.BuilderRegistration
	if _, err := c.do(ctx, request{method: http.MethodPut, path: path("builders", name), body: spec}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetBuilder is GET /v1/builders/{name}.
func (c *Client) GetBuilder(ctx context.Context, name string) (*farm.Builder, error) {
	return c.builder(ctx, request{method: http.MethodGet, path: path("builders", name)})
}

// ListBuilders is GET /v1/builders.
func (c *Client) ListBuilders(ctx context.Context) ([]*farm.Builder, error) {
	var out apiv1.BuilderList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("builders")}, &out); err != nil {
		return nil, err
	}
	return out.Builders, nil
}

// DisableBuilder is POST /v1/builders/{name}/disable.
func (c *Client) DisableBuilder(ctx context.Context, name, reason string) (*farm.Builder, error) {
	return c.builder(ctx, request{method: http.MethodPost, path: path("builders", name, "disable"), body: apiv1.ReasonRequest{Reason: reason}})
}

// EnableBuilder is POST /v1/builders/{name}/enable.
func (c *Client) EnableBuilder(ctx context.Context, name, reason string) (*farm.Builder, error) {
	return c.builder(ctx, request{method: http.MethodPost, path: path("builders", name, "enable"), body: apiv1.ReasonRequest{Reason: reason}})
}

// Claim is POST /v1/builders/{name}/claim: the best queued job of pool, or
// (nil, nil) when there is none (204).
func (c *Client) Claim(ctx context.Context, name string, req apiv1.ClaimRequest) (*apiv1.ClaimResponse, error) {
	var out apiv1.ClaimResponse
	status, err := c.do(ctx, request{method: http.MethodPost, path: path("builders", name, "claim"), body: req}, &out)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNoContent || out.Job == nil {
		return nil, nil
	}
	return &out, nil
}

// Heartbeat is POST /v1/builders/{name}/heartbeat. When the farm answers 409
// (a claim in req is stale or foreign) Heartbeat returns both the decoded
// answer, whose directives cancel the stale jobs (the valid ones were
// renewed), and a *StatusError with code conflict.
func (c *Client) Heartbeat(ctx context.Context, name string, req apiv1.HeartbeatRequest) (*apiv1.HeartbeatResponse, error) {
	if req.Jobs == nil {
		req.Jobs = []apiv1.HeartbeatJob{}
	}
	var out apiv1.HeartbeatResponse
	_, err := c.do(ctx, request{method: http.MethodPost, path: path("builders", name, "heartbeat"), body: req}, &out)
	if err == nil {
		return &out, nil
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict {
		var conflict apiv1.HeartbeatConflict
		if json.Unmarshal(se.Body, &conflict) == nil {
			return &conflict.HeartbeatResponse, err
		}
	}
	return nil, err
}

func (c *Client) builder(ctx context.Context, req request) (*farm.Builder, error) {
	var out farm.Builder
	if _, err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
