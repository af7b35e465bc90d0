package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunFaultsContract checks what the farm does about builders that restart,
// jobs that expire, and dependencies that fail, through every store.
func RunFaultsContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	cfg := farm.Policy{Heartbeat: 10 * time.Second}

	t.Run("ARestartedBuilderLosesItsClaimsAtOnce", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		spec := farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}, Slots: 2, BootID: "boot-1"}
		if _, err := e.Builders.Register(ctx, Admin, "b1", spec); err != nil {
			t.Fatal(err)
		}
		e.Builder(t, "b2", 1)
		var old []*farm.Job
		for range 2 {
			e.ScriptJob(t, "default", 0)
			j, err := e.Claim(ctx, "b1", "default")
			must(t, err)
			old = append(old, j)
		}
		e.ScriptJob(t, "default", 0)
		other, err := e.Claim(ctx, "b2", "default")
		must(t, err)

		e.Clock.Advance(time.Second) // the leases have 29 s to run
		spec.BootID = "boot-2"
		reg, err := e.Builders.Register(ctx, Admin, "b1", spec)
		must(t, err)
		if stored, _ := e.Store.GetBuilder(ctx, "b1"); stored.BootID != "boot-2" || reg.Builder.BootID != "boot-2" || len(stored.CurrentJobs) != 0 {
			t.Fatalf("b1 after its restart: %+v", stored)
		}
		for _, j := range old {
			now, err := e.Store.GetJob(ctx, j.ID)
			must(t, err)
			if now.Status != farm.StatusQueued || now.Builder != "" || !now.Claimable(e.Clock.Now()) {
				t.Errorf("job %s after b1 restarted: %s on %q", j.ID, now.Status, now.Builder)
			}
			evs, err := e.Store.JobEvents(ctx, j.ID)
			must(t, err)
			if last := evs[len(evs)-1]; last.To != farm.StatusQueued || !strings.Contains(last.Detail, "restarted") {
				t.Errorf("job %s: last event %+v", j.ID, last)
			}
			_, err = e.Claims.Record(ctx, "b1", j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: farm.StatusSucceeded})
			mustCode(t, err, farm.EConflict)
			hb, err := e.Claims.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: j.ClaimToken}}, false)
			must(t, err)
			if !hb.Stale {
				t.Errorf("the old boot's heartbeat for %s was not refused: %+v", j.ID, hb)
			}
		}
		if j, _ := e.Store.GetJob(ctx, other.ID); j.Status != farm.StatusRunning || j.Builder != "b2" {
			t.Errorf("b2's job %s: %s on %q", j.ID, j.Status, j.Builder)
		}
		for _, j := range old {
			if e.Bell.Count(j.ID) < 2 { // at submit, and again when requeued
				t.Errorf("requeued job %s was not rung", j.ID)
			}
		}
	})
}
