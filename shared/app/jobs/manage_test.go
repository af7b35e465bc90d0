package jobs_test

import (
	"context"
	"testing"

	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Cancel and retry are the submitter's or an admin's; what the job's state
// allows decides the rest.
func TestCancelAndRetry(t *testing.T) {
	t.Parallel()
	type op func(*jobs.Service) func(context.Context, farm.Principal, string) (*farm.Job, error)
	cancel := op(func(s *jobs.Service) func(context.Context, farm.Principal, string) (*farm.Job, error) {
		return s.Cancel
	})
	retry := op(func(s *jobs.Service) func(context.Context, farm.Principal, string) (*farm.Job, error) { return s.Retry })
	for _, tc := range []struct {
		name   string
		status farm.JobStatus
		op     op
		by     farm.Principal
		code   string
		want   farm.JobStatus
	}{
		{"owner cancels a queued job", farm.StatusQueued, cancel, alice, "", farm.StatusCancelled},
		{"admin cancels a queued job", farm.StatusQueued, cancel, admin, "", farm.StatusCancelled},
		{"another submitter may not cancel", farm.StatusQueued, cancel, bob, farm.EForbidden, ""},
		{"a builder may not cancel", farm.StatusQueued, cancel, b1, farm.EForbidden, ""},
		{"a running job is cancelling", farm.StatusRunning, cancel, alice, "", farm.StatusCancelling},
		{"a finished job is not cancelled", farm.StatusSucceeded, cancel, alice, farm.EConflict, ""},
		{"owner retries a failed job", farm.StatusFailed, retry, alice, "", farm.StatusQueued},
		{"another submitter may not retry", farm.StatusFailed, retry, bob, farm.EForbidden, ""},
		{"a succeeded job is not retried", farm.StatusSucceeded, retry, admin, farm.EConflict, ""},
		{"a queued job is not retried", farm.StatusQueued, retry, alice, farm.EConflict, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, farm.Policy{})
			j := f.submit(t, alice, `{"script":"true"}`)
			if tc.status != farm.StatusQueued {
				j = f.set(t, j.ID, tc.status, func(n *farm.Job) {
					if tc.status == farm.StatusRunning {
						n.Builder, n.ClaimToken, n.Attempts = "b1", "tok", 1
					}
				})
			}
			rings := f.bell.count(j.ID)
			got, err := tc.op(f.Service)(ctx, tc.by, j.ID)
			if tc.code != "" {
				mustCode(t, err, tc.code)
				return
			}
			must(t, err)
			if got.Status != tc.want {
				t.Fatalf("job is %s, want %s", got.Status, tc.want)
			}
			// The follow-up work of the new state ran: a requeued job is rung.
			if rung := f.bell.count(j.ID) > rings; rung != (tc.want == farm.StatusQueued) {
				t.Fatalf("rung %v for a %s job", rung, got.Status)
			}
		})
	}
	f := newFixture(t, farm.Policy{})
	_, err := f.Cancel(ctx, admin, farm.NewID(t0))
	mustCode(t, err, farm.ENotFound)
}

func TestPinScore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	j := f.submit(t, alice, `{"script":"true"}`)
	_, err := f.PinScore(ctx, admin, j.ID, jobs.MaxPinnedScore+1)
	mustCode(t, err, farm.EInvalid)
	pinned, err := f.PinScore(ctx, admin, j.ID, 1234)
	if err != nil || pinned.Score != 1234 || !pinned.ScorePinned {
		t.Fatalf("pinned %+v %v", pinned, err)
	}
	f.set(t, j.ID, farm.StatusSucceeded, nil)
	_, err = f.PinScore(ctx, admin, j.ID, 1)
	mustCode(t, err, farm.EConflict)
}
