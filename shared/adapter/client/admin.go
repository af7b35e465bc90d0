package client

import (
	"context"
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// CreateToken is POST /v1/tokens: the secret is in the answer, once.
func (c *Client) CreateToken(ctx context.Context, req apiv1.TokenRequest) (*apiv1.TokenResponse, error) {
	var out apiv1.TokenResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path("tokens"), body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTokens is GET /v1/tokens: the tokens that work, oldest first, without secrets.
func (c *Client) ListTokens(ctx context.Context) ([]*farm.Token, error) {
	var out apiv1.TokenList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("tokens")}, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// RevokeToken is DELETE /v1/tokens/{id}: the token answers 401 from then on.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: path("tokens", id)}, nil)
	return err
}

// PutResourcePool is PUT /v1/resource-pools/{pool}: creates or updates a pool.
func (c *Client) PutResourcePool(ctx context.Context, pool string, req apiv1.ResourcePoolRequest) (*farm.ResourcePool, error) {
	var out farm.ResourcePool
	if _, err := c.do(ctx, request{method: http.MethodPut, path: path("resource-pools", pool), body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddResource is POST /v1/resource-pools/{pool}/resources: a new free resource.
func (c *Client) AddResource(ctx context.Context, pool string, req apiv1.AddResourceRequest) (*farm.Resource, error) {
	return c.resource(ctx, request{method: http.MethodPost, path: path("resource-pools", pool, "resources"), body: req})
}

// GetResourcePool is GET /v1/resource-pools/{pool}: the pool and its resources.
func (c *Client) GetResourcePool(ctx context.Context, pool string) (*apiv1.ResourcePoolView, error) {
	var out apiv1.ResourcePoolView
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("resource-pools", pool)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AcquireResource is POST /v1/resource-pools/{pool}/acquire. An empty pool
// answers 409 with code none_free.
func (c *Client) AcquireResource(ctx context.Context, pool string, req apiv1.AcquireRequest) (*apiv1.AcquireResponse, error) {
	var out apiv1.AcquireResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path("resource-pools", pool, "acquire"), body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReleaseResource is POST /v1/resource-pools/{pool}/resources/{name}/release:
// the resource becomes dirty and a clean-resource job is queued.
func (c *Client) ReleaseResource(ctx context.Context, pool, name, leaseToken string) (*farm.Resource, error) {
	return c.resource(ctx, request{method: http.MethodPost, path: path("resource-pools", pool, "resources", name, "release"), body: apiv1.ReleaseRequest{LeaseToken: leaseToken}})
}

func (c *Client) resource(ctx context.Context, req request) (*farm.Resource, error) {
	var out farm.Resource
	if _, err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
