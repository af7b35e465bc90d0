package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// flaky is a fake farm that fails the first n requests (with status, or by
// cutting the connection when status is 0), then answers a job.
type flaky struct {
	mu         sync.Mutex
	n          int
	status     int
	retryAfter string
	seen       []time.Time
	keys       []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, time.Now())
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	fail := len(f.seen) <= f.n
	f.mu.Unlock()
	switch {
	case fail && f.status == 0:
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	case fail:
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		writeJSON(w, f.status, apiv1.ErrorBody{Error: apiv1.ErrorDetail{Code: farm.EUnavailable, Message: "try again"}})
	default:
		json.NewEncoder(w).Encode(farm.Job{ID: "01J00000000000000000000000", Status: farm.StatusQueued})
	}
}

func (f *flaky) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func flakyFarm(t *testing.T, f *flaky, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "tok", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTPClient().CloseIdleConnections)
	return c
}

var quick = client.RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 10 * time.Millisecond}

func TestIdempotentRequestsAreRetriedWhileTheFarmIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	submit := apiv1.SubmitJobRequest{Type: "script", Payload: json.RawMessage(`{"script":"true"}`)}
	cases := []struct {
		name     string
		farm     *flaky
		call     func(c *client.Client) error
		opts     []client.Option
		requests int
		ok       bool
	}{
		{"GET through 503s", &flaky{n: 3, status: 503}, func(c *client.Client) error { _, err := c.GetJob(ctx, "x"); return err }, []client.Option{client.WithRetry(quick)}, 4, true},
		{"GET through cut connections", &flaky{n: 2}, func(c *client.Client) error { _, err := c.GetJob(ctx, "x"); return err }, []client.Option{client.WithRetry(quick)}, 3, true},
		{"GET gives up after the attempts", &flaky{n: 9, status: 502}, func(c *client.Client) error { _, err := c.GetJob(ctx, "x"); return err }, []client.Option{client.WithRetry(quick)}, 4, false},
		{"submit with a key", &flaky{n: 2, status: 503}, func(c *client.Client) error { _, _, err := c.SubmitJob(ctx, submit, "k1"); return err }, []client.Option{client.WithRetry(quick)}, 3, true},
		{"submit without a key is sent once", &flaky{n: 2, status: 503}, func(c *client.Client) error { _, _, err := c.SubmitJob(ctx, submit, ""); return err }, []client.Option{client.WithRetry(quick)}, 1, false},
		{"a cancel is sent once", &flaky{n: 2, status: 503}, func(c *client.Client) error { _, err := c.CancelJob(ctx, "x"); return err }, []client.Option{client.WithRetry(quick)}, 1, false},
		{"a claim is sent once", &flaky{n: 1}, func(c *client.Client) error {
			_, err := c.Claim(ctx, "b", apiv1.ClaimRequest{Pool: "default"})
			return err
		}, []client.Option{client.WithRetry(quick)}, 1, false},
		{"a 409 is final", &flaky{n: 2, status: 409}, func(c *client.Client) error { _, err := c.GetJob(ctx, "x"); return err }, []client.Option{client.WithRetry(quick)}, 1, false},
		{"a 500 is final", &flaky{n: 2, status: 500}, func(c *client.Client) error { _, err := c.GetJob(ctx, "x"); return err }, []client.Option{client.WithRetry(quick)}, 1, false},
		{"no policy: sent once", &flaky{n: 2, status: 503}, func(c *client.Client) error { _, err := c.GetJob(ctx, "x"); return err }, nil, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.farm
			err := tc.call(flakyFarm(t, f, tc.opts...))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want success %v", err, tc.ok)
			}
			if got := f.requests(); got != tc.requests {
				t.Fatalf("%d requests, want %d", got, tc.requests)
			}
			for _, k := range f.keys {
				if k != f.keys[0] {
					t.Fatalf("the retries changed the idempotency key: %v", f.keys)
				}
			}
		})
	}
}

func TestRetryWaitsForRetryAfterAndStopsAtTheDeadline(t *testing.T) {
	t.Parallel()
	f := &flaky{n: 1, status: 503, retryAfter: "1"}
	c := flakyFarm(t, f, client.WithRetry(client.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Second}))
	if _, err := c.GetJob(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if gap := f.seen[1].Sub(f.seen[0]); gap < 900*time.Millisecond {
		t.Fatalf("retried %v after a 503 with Retry-After: 1", gap)
	}

	// A deadline shorter than the wait: the error comes back at once.
	f = &flaky{n: 5, status: 503, retryAfter: "3"}
	c = flakyFarm(t, f, client.WithRetry(client.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Second}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.GetJob(ctx, "x")
	if client.StatusOf(err) != 503 || f.requests() != 1 {
		t.Fatalf("err %v after %d requests, want the 503 after 1", err, f.requests())
	}
	var se *client.StatusError
	if !errors.As(err, &se) || se.RetryAfter != 3*time.Second {
		t.Fatalf("RetryAfter not read: %+v", se)
	}
}
