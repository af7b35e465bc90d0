package client

import (
	"context"
	"net/http"
	"sync"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// TokenSource gives the token to send with each request: one that is
// renewed while the client lives (an EC2 builder's instance token).
type TokenSource interface{ Token() string }

// WithTokenSource makes the client ask src for its token at each request,
// instead of using the one given to New.
func WithTokenSource(src TokenSource) Option { return func(c *Client) { c.tokens = src } }

func (c *Client) bearer() string {
	if c.tokens != nil {
		return c.tokens.Token()
	}
	return c.token
}

// TokenHolder is a TokenSource whose token is replaced when renewed.
type TokenHolder struct {
	mu  sync.RWMutex
	tok string
}

// Token returns the current token.
func (h *TokenHolder) Token() string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.tok
}

// Set replaces the token.
func (h *TokenHolder) Set(tok string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tok = tok
}

// HandBack is POST /v1/jobs/{id}/release: gives a job back to the queue at
// once (a spot interruption notice), fenced by its claim token.
func (c *Client) HandBack(ctx context.Context, id string, req apiv1.HandBackRequest) (*farm.Job, error) {
	var out farm.Job
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path("jobs", id, "release"), body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// InstanceToken is POST /v1/instance-tokens: an EC2 instance's builder
// token for its signed identity (no token needed).
func (c *Client) InstanceToken(ctx context.Context, req apiv1.InstanceTokenRequest) (*apiv1.TokenResponse, error) {
	var out apiv1.TokenResponse
	if _, err := c.do(ctx, request{method: http.MethodPost, path: path("instance-tokens"), body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
