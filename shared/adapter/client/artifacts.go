package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
)

// ListArtifacts is GET /v1/jobs/{id}/artifacts: every run's artifacts.
func (c *Client) ListArtifacts(ctx context.Context, id string) ([]apiv1.ArtifactInfo, error) {
	var out apiv1.ArtifactList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("jobs", id, "artifacts")}, &out); err != nil {
		return nil, err
	}
	return out.Artifacts, nil
}

// ArtifactDownload is GET /v1/jobs/{id}/artifacts/{name}?redirect=false:
// where to download the artifact (a presigned URL that lives minutes),
// its size and SHA-256. attempt 0 is the latest run that has one.
func (c *Client) ArtifactDownload(ctx context.Context, id, name string, attempt int) (*apiv1.ArtifactDownload, error) {
	q := url.Values{"redirect": {"false"}}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	// The name is a relative path: each of its segments is escaped.
	p := path(append([]string{"jobs", id, "artifacts"}, strings.Split(name, "/")...)...)
	var out apiv1.ArtifactDownload
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p, query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OpenArtifact starts the download d names and returns its body and size
// (-1 when unknown); the caller closes it. The presigned URL needs no
// token and none is sent; only ctx bounds the download.
func (c *Client) OpenArtifact(ctx context.Context, d *apiv1.ArtifactDownload) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("client: download %s: %w", d.Name, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := (&http.Client{Transport: http.DefaultTransport}).Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("client: download %s: %w", d.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, 0, fmt.Errorf("client: download %s: storage answered %d: %s", d.Name, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return resp.Body, resp.ContentLength, nil
}

// WhoAmI is GET /v1/whoami: the caller's role and actor.
func (c *Client) WhoAmI(ctx context.Context) (*apiv1.WhoAmI, error) {
	var out apiv1.WhoAmI
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("whoami")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListResourcePools is GET /v1/resource-pools.
func (c *Client) ListResourcePools(ctx context.Context) (*apiv1.ResourcePoolList, error) {
	var out apiv1.ResourcePoolList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path("resource-pools")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
