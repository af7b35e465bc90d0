package claims_test

import (
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestHeartbeatValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	id := farm.NewID(t0)
	tooMany := make([]claims.HeartbeatJob, claims.MaxHeartbeatJobs+1)
	for _, tc := range []struct {
		name  string
		jobs  []claims.HeartbeatJob
		field string
	}{
		{"too many", tooMany, "jobs"},
		{"not an id", []claims.HeartbeatJob{{ID: "x"}}, "jobs[0].id"},
		{"twice (ids are case-insensitive)", []claims.HeartbeatJob{{ID: id}, {ID: strings.ToLower(id)}}, "jobs[1].id"},
		{"progress too long", []claims.HeartbeatJob{{ID: id, Progress: strings.Repeat("p", claims.MaxProgress+1)}}, "jobs[0].progress"},
	} {
		if _, err := f.Heartbeat(ctx, "b1", tc.jobs, false); !farm.IsCode(err, farm.EInvalid) || fieldOf(err) != tc.field {
			t.Errorf("%s: %v, want invalid %s", tc.name, err, tc.field)
		}
	}
}

// A heartbeat renews its jobs' leases and appends their logs; it tells the
// builder to stop jobs that are being cancelled or that it no longer holds,
// to drain when it is disabled, and to register when the farm forgot it.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, err := f.Heartbeat(ctx, "ghost", nil, false)
	if err != nil || len(res.Directives) != 1 || res.Directives[0].Action != claims.DirectiveReregister {
		t.Fatalf("unknown builder: %+v %v", res, err)
	}
	f.register(t, "b1", 3)
	kept, cancelled, lost := f.script(t, 0), f.script(t, 0), f.script(t, 0)
	var tokens = map[string]string{}
	for range 3 {
		c := f.claim(t, "b1")
		tokens[c.Job.ID] = c.Job.ClaimToken
	}
	err = f.Store().Commit(ctx, cancelling(t, f, cancelled.ID))
	must(t, err)
	f.clock.Advance(5 * time.Second)
	res, err = f.Heartbeat(ctx, "b1", []claims.HeartbeatJob{
		{ID: kept.ID, ClaimToken: tokens[kept.ID], Log: "step 1\n", Progress: "1/3"},
		{ID: cancelled.ID, ClaimToken: tokens[cancelled.ID]},
		{ID: lost.ID, ClaimToken: "stale"},
	}, false)
	must(t, err)
	if !res.Stale || len(res.Directives) != 2 || res.Heartbeat != 10*time.Second || res.Lease != 30*time.Second || !res.LeaseExpiresAt.Equal(t0.Add(35*time.Second)) {
		t.Fatalf("heartbeat %+v", res)
	}
	byJob := map[string]claims.Directive{}
	for _, d := range res.Directives {
		byJob[d.JobID] = d
	}
	if d := byJob[cancelled.ID]; d.Action != claims.DirectiveCancel || d.ClaimLost {
		t.Fatalf("cancelled job directive %+v", d)
	}
	if d := byJob[lost.ID]; d.Action != claims.DirectiveCancel || !d.ClaimLost {
		t.Fatalf("stale claim directive %+v", d)
	}
	if j := f.job(t, kept.ID); j.Progress != "1/3" || !j.LeaseExpiresAt.Equal(t0.Add(35*time.Second)) {
		t.Fatalf("renewed job %+v", j)
	}
	if chunks, err := f.mem.LogChunks(ctx, kept.ID, 1, 0); err != nil || len(chunks) != 1 || chunks[0].Text != "step 1\n" {
		t.Fatalf("the heartbeat's log chunks: %+v %v", chunks, err)
	}
	_, err = f.builders.Disable(ctx, admin, "b1", "maintenance")
	must(t, err)
	if res, err = f.Heartbeat(ctx, "b1", nil, false); err != nil || !res.Drain {
		t.Fatalf("a disabled builder is not told to drain: %+v %v", res, err)
	}
}
