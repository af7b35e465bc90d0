package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy makes the client send an idempotent request again when the
// farm is unavailable (502, 503, 504, 429) or the connection failed.
// Idempotent are GET and HEAD, and a POST carrying an Idempotency-Key
// (a submit with a key answers the first job on a repeat). Nothing else is
// ever sent twice: a claim, a heartbeat or a completion is the agent's own
// business, with its own backoff.
type RetryPolicy struct {
	// Attempts is the most times a request is sent (1: no retry).
	Attempts int
	// Base and Max bound the wait before retry n: a draw from
	// [0, min(Max, Base·2^n)) ("full jitter"), but at least the farm's
	// Retry-After when it sent one (up to Max).
	Base, Max time.Duration
}

// DefaultRetry is farmctl's policy: 5 attempts, waits under 0.4, 0.8, 1.6,
// 3.2 s (about 3 s in all on average, 6 s at most), within the call's
// context deadline.
var DefaultRetry = RetryPolicy{Attempts: 5, Base: 200 * time.Millisecond, Max: 5 * time.Second}

// WithRetry makes the client retry idempotent requests by p. Without it the
// client sends every request once (what the builder agent wants: it runs
// its own loops).
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// idempotent reports whether req may be sent twice with the same effect.
func idempotent(req request) bool {
	switch req.method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return req.header.Get("Idempotency-Key") != ""
	}
	return false
}

// retryWait returns how long to wait before sending req again after
// attempt (1 for the first) failed with err, and false when it must not be
// sent again.
func (p RetryPolicy) retryWait(ctx context.Context, req request, attempt int, err error) (time.Duration, bool) {
	if attempt >= p.Attempts || !idempotent(req) || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	var wait time.Duration
	switch status := StatusOf(err); status {
	case 0: // the connection failed
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		var se *StatusError
		if errors.As(err, &se) {
			wait = min(se.RetryAfter, p.Max)
		}
	default:
		return 0, false
	}
	ceiling := p.Base
	for i := 0; i < attempt && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.Max)
	if ceiling > 0 {
		wait = max(wait, time.Duration(rand.Int64N(int64(ceiling))))
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		return 0, false // the answer would come after the caller stopped waiting
	}
	return wait, true
}

// parseRetryAfter reads a Retry-After header in seconds (HTTP dates are
// not used by the farm and read as none).
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
