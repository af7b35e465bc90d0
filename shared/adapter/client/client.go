// Package client is the typed Go client of the farm's HTTP API v1. Builders,
// farmctl and tests use it. Every route of the API has one method; errors
// from the farm come back as *StatusError, which wraps the farm's own
// *farm.Error so that farm.IsCode(err, farm.EConflict) works on them.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxResponseBytes bounds a JSON response body the client reads.
const MaxResponseBytes = 16 << 20

// Client talks to one farm with one token. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	userAgent string
	retry     RetryPolicy
	// tokens, when set, gives the token of each request (tokensource.go).
	tokens TokenSource
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the default HTTP client (which has a 60 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the farm at baseURL (e.g. http://127.0.0.1:8080;
// a trailing /v1 is accepted) that authenticates with token. Plain http is
// refused except to a loopback address (see CheckBaseURL).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      u,
		token:     token,
		http:      &http.Client{Timeout: 60 * time.Second, CheckRedirect: keepTokenOnFarm},
		userAgent: "buildfarm-client",
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// CheckBaseURL says whether baseURL is a farm URL a token may be sent to:
// https, or http to a loopback address (localhost, 127.0.0.0/8, ::1) only —
// over any other network a bearer token in plain http is anyone's.
func CheckBaseURL(baseURL string) error {
	_, err := parseBaseURL(baseURL)
	return err
}

func parseBaseURL(baseURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: farm URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: farm URL %q: want http(s)://host[:port]", baseURL)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("client: farm URL %q: plain http is allowed to a loopback address only (localhost, 127.0.0.1, [::1]); use https, so that the token is not sent in the clear", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	return u, nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keepTokenOnFarm drops the farm token from a redirect that leaves the
// farm's host and port (a log served from object storage by a presigned
// URL). net/http keeps it when only the port differs, as with an API and an
// emulator both on 127.0.0.1.
func keepTokenOnFarm(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// BaseURL returns the farm's base URL (without /v1).
func (c *Client) BaseURL() string { return c.base.String() }

// HTTPClient returns the HTTP client in use (uploads share its transport).
func (c *Client) HTTPClient() *http.Client { return c.http }

// path joins escaped segments under /v1.
func path(segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any // JSON-encoded when not nil
	header http.Header
}

// response is a successful answer; the caller closes Body.
type response struct {
	status int
	header http.Header
	body   io.ReadCloser
}

// send performs req — again, by the client's RetryPolicy, while an
// idempotent request meets an unavailable farm — and turns every non-2xx
// answer into a *StatusError.
func (c *Client) send(ctx context.Context, req request) (*response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.sendOnce(ctx, req)
		if err == nil {
			return resp, nil
		}
		wait, again := c.retry.retryWait(ctx, req, attempt, err)
		if !again {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// sendOnce performs req once.
func (c *Client) sendOnce(ctx context.Context, req request) (*response, error) {
	// req.path is already escaped segment by segment.
	target := c.base.String() + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("client: encode %s %s: %w", req.method, req.path, err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", c.userAgent)
	if tok := c.bearer(); tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeError(req.method, req.path, resp)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: resp.Body}, nil
}

// do performs req and decodes a JSON answer into out (when out is not nil).
// It returns the HTTP status of the success.
func (c *Client) do(ctx context.Context, req request, out any) (int, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return 0, err
	}
	defer resp.body.Close()
	if out == nil || resp.status == http.StatusNoContent {
		// Drain so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.body, MaxResponseBytes))
		return resp.status, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.body, MaxResponseBytes)).Decode(out); err != nil {
		return resp.status, fmt.Errorf("client: %s %s: decode %d answer: %w", req.method, req.path, resp.status, err)
	}
	return resp.status, nil
}
