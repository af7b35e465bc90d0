package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
)

// farmctl sends reads and keyed submits again while the farm answers 503;
// a submit without a key and a cancel are sent once.
func TestFarmctlRetriesIdempotentCalls(t *testing.T) {
	t.Parallel()
	quick := client.RetryPolicy{Attempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond}
	unavailable := apiError(http.StatusServiceUnavailable, "unavailable", "the job store is unavailable; try again")
	cases := []struct {
		name     string
		args     []string
		routes   map[string][]reply
		requests int
		code     int
	}{
		{"get", []string{"jobs", "get", "01JOB"}, map[string][]reply{"GET /v1/jobs/01JOB": {unavailable, unavailable, ok(queuedJob)}}, 3, exitOK},
		{"list", []string{"jobs", "list"}, map[string][]reply{"GET /v1/jobs": {unavailable, ok(`{"jobs":[]}`)}}, 2, exitOK},
		{"keyed submit", []string{"run-script", "echo hi", "--idempotency-key", "k1", "-q"}, map[string][]reply{"POST /v1/jobs": {unavailable, created(queuedJob)}}, 2, exitOK},
		{"submit without a key", []string{"run-script", "echo hi", "-q"}, map[string][]reply{"POST /v1/jobs": {unavailable, created(queuedJob)}}, 1, exitError},
		{"cancel", []string{"jobs", "cancel", "01JOB"}, map[string][]reply{"POST /v1/jobs/01JOB/cancel": {unavailable, ok(queuedJob)}}, 1, exitError},
		{"a refusal is final", []string{"jobs", "get", "01JOB"}, map[string][]reply{"GET /v1/jobs/01JOB": {apiError(http.StatusNotFound, "not_found", "no job"), ok(queuedJob)}}, 1, exitError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFarm(t, tc.routes)
			got := runFarmctlRetrying(t, f, quick, nil, "", tc.args...)
			if got.code != tc.code {
				t.Errorf("exit %d, want %d: %s", got.code, tc.code, got.stderr)
			}
			reqs := f.requests()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests, want %d: %+v", len(reqs), tc.requests, reqs)
			}
			for _, r := range reqs {
				if r.IdempotencyKey != reqs[0].IdempotencyKey {
					t.Fatalf("the key changed between attempts: %+v", reqs)
				}
			}
		})
	}
	if client.DefaultRetry.Attempts < 2 || newApp(context.Background(), nil, nil, nil, nil).retry != client.DefaultRetry {
		t.Fatal("farmctl does not retry by default")
	}
}
