package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
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

	t.Run("AFinishedJobExpiresAfterTheRetention", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, farm.Policy{Heartbeat: 10 * time.Second, JobRetention: 30 * 24 * time.Hour})
		e.Builder(t, "b1", 1)
		j := e.ScriptJob(t, "default", 0)
		if got, _ := e.Store.GetJob(ctx, j.ID); got.ExpiresAt != nil {
			t.Fatalf("a queued job expires at %v", got.ExpiresAt)
		}
		claimed, err := e.Claim(ctx, "b1", "default")
		must(t, err)
		e.Clock.Advance(1500 * time.Millisecond)
		_, err = e.Claims.Record(ctx, "b1", j.ID, farm.Completion{ClaimToken: claimed.ClaimToken, Result: farm.StatusSucceeded})
		must(t, err)
		done, err := e.Store.GetJob(ctx, j.ID)
		must(t, err)
		end := done.FinishedAt.Add(30 * 24 * time.Hour)
		if done.ExpiresAt == nil || done.ExpiresAt.Before(end) || done.ExpiresAt.After(end.Add(time.Second)) {
			t.Fatalf("finished at %v, expires at %v: want the second after %v", done.FinishedAt, done.ExpiresAt, end)
		}
	})

	t.Run("AWaitingJobFailsWithTheDependencyThatFailed", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b1", 1)
		first := e.ScriptJob(t, "default", 0)
		submit := func(deps ...string) *farm.Job {
			j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true"}`), DependsOn: deps, RequestedBy: "submitter:test"})
			must(t, err)
			return j
		}
		second := submit(first.ID)
		third := submit(second.ID)
		got, err := e.Jobs.Get(ctx, Admin, third.ID)
		must(t, err)
		if got.Status != farm.StatusWaiting || len(got.WaitingFor) != 1 || got.WaitingFor[0] != second.ID {
			t.Fatalf("third: %s waiting for %v, want %s", got.Status, got.WaitingFor, second.ID)
		}
		claimed, err := e.Claim(ctx, "b1", "default")
		must(t, err)
		_, err = e.Claims.Record(ctx, "b1", first.ID, farm.Completion{ClaimToken: claimed.ClaimToken, Result: farm.StatusFailed, Error: "exit status 3"})
		must(t, err)
		for _, tc := range []struct {
			job  *farm.Job
			want string
		}{
			{second, "dependency " + first.ID + " failed: exit status 3"},
			{third, "dependency " + second.ID + " failed: dependency " + first.ID + " failed: exit status 3"},
		} {
			got, err := e.Jobs.Get(ctx, Admin, tc.job.ID)
			must(t, err)
			if got.Status != farm.StatusFailed || got.Error != tc.want || got.WaitingFor != nil {
				t.Errorf("job %s: %s %q (waiting for %v), want failed %q", got.ID, got.Status, got.Error, got.WaitingFor, tc.want)
			}
		}
		// A dependency that failed before the submit fails the job at once.
		late := submit(second.ID)
		if late.Status != farm.StatusFailed || late.Error != "dependency "+second.ID+" failed: dependency "+first.ID+" failed: exit status 3" {
			t.Errorf("late dependent: %s %q", late.Status, late.Error)
		}
	})
}
