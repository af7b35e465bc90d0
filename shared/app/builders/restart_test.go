package builders_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// restartFarm is the farm's services over the in-memory store, with one
// builder b1 of two slots registered under boot "boot-1" and running two
// jobs, and one job running on b2.
type restartFarm struct {
	svc   *wiring.Services
	st    *memstore.Store
	clock *storetest.Clock
	b1    []*farm.Job // b1's claims (with their tokens)
	b2    *farm.Job
}

func newRestartFarm(t *testing.T) *restartFarm {
	t.Helper()
	f := &restartFarm{clock: storetest.NewClock(), st: memstore.New()}
	f.svc = wiring.NewServices(wiring.Deps{Store: f.st, Pools: storetest.Pools, Clock: f.clock.Now, Logger: slog.New(slog.DiscardHandler),
		Policy: farm.Policy{Heartbeat: 10 * time.Second}})
	f.register(t, "b1", "boot-1", 2)
	f.register(t, "b2", "boot-x", 1)
	for range 3 {
		if _, _, err := f.svc.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"true"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	f.b1 = append(f.b1, f.claim(t, "b1"), f.claim(t, "b1"))
	f.b2 = f.claim(t, "b2")
	return f
}

func (f *restartFarm) register(t *testing.T, name, boot string, slots int) *farm.Builder {
	t.Helper()
	reg, err := f.svc.Builders.Register(ctx, admin, name, farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}, Slots: slots, BootID: boot})
	if err != nil {
		t.Fatalf("register %s boot %s: %v", name, boot, err)
	}
	return reg.Builder
}

func (f *restartFarm) claim(t *testing.T, builder string) *farm.Job {
	t.Helper()
	c, err := f.svc.Claims.Claim(ctx, admin, builder, "default")
	if err != nil || c == nil {
		t.Fatalf("claim by %s: %v %v", builder, c, err)
	}
	return c.Job
}

func (f *restartFarm) job(t *testing.T, id string) *farm.Job {
	t.Helper()
	j, err := f.svc.Jobs.Get(ctx, admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestARestartedBuilderLosesItsClaimsAtOnce(t *testing.T) {
	t.Parallel()
	f := newRestartFarm(t)
	f.clock.Advance(time.Second) // well within the lease

	b := f.register(t, "b1", "boot-2", 2)
	if b.BootID != "boot-2" || len(b.CurrentJobs) != 0 || b.State != farm.BuilderIdle || b.ConsecutiveFailures != 1 {
		t.Errorf("b1 after its restart: boot %q jobs %v state %s failures %d", b.BootID, b.CurrentJobs, b.State, b.ConsecutiveFailures)
	}
	for _, old := range f.b1 {
		j := f.job(t, old.ID)
		if j.Status != farm.StatusQueued || j.Builder != "" || !j.Claimable(f.clock.Now()) || j.BuilderFailures != 1 {
			t.Errorf("job %s after b1 restarted: %s on %q, claimable %v", j.ID, j.Status, j.Builder, j.Claimable(f.clock.Now()))
		}
		events, err := f.svc.Jobs.Events(ctx, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := events[len(events)-1]
		if last.From != farm.StatusRunning || last.To != farm.StatusQueued || !strings.Contains(last.Detail, "builder b1 restarted") {
			t.Errorf("job %s: last event %+v does not name the restart", j.ID, last)
		}
		// The old boot's heartbeat and completion are fenced off.
		if _, err := f.svc.Claims.Record(ctx, "b1", old.ID, farm.Completion{ClaimToken: old.ClaimToken, Result: farm.StatusSucceeded}); !farm.IsCode(err, farm.EConflict) {
			t.Errorf("the old boot's completion of %s: %v, want a conflict", old.ID, err)
		}
		hb, err := f.svc.Claims.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: old.ID, ClaimToken: old.ClaimToken}}, false)
		if err != nil || !hb.Stale || len(hb.Directives) != 1 || !hb.Directives[0].ClaimLost {
			t.Errorf("the old boot's heartbeat for %s: %+v %v, want its claim lost", old.ID, hb, err)
		}
	}
	if j := f.job(t, f.b2.ID); j.Status != farm.StatusRunning || j.Builder != "b2" {
		t.Errorf("b2's job touched by b1's restart: %s on %s", j.Status, j.Builder)
	}
	// The restarted builder claims them again, under new tokens.
	again := f.claim(t, "b1")
	if again.ID != f.b1[0].ID && again.ID != f.b1[1].ID {
		t.Errorf("b1 claimed %s, not one of its old jobs", again.ID)
	}
}

func TestRegisteringAgainUnderTheSameBootChangesNothing(t *testing.T) {
	t.Parallel()
	f := newRestartFarm(t)
	for _, boot := range []string{"boot-1", ""} { // a lost answer's retry; an admin's registration
		f.register(t, "b1", boot, 2)
		for _, old := range f.b1 {
			if j := f.job(t, old.ID); j.Status != farm.StatusRunning || j.Builder != "b1" {
				t.Errorf("boot %q: job %s is %s on %q", boot, j.ID, j.Status, j.Builder)
			}
		}
	}
	if b := f.register(t, "b1", "boot-1", 2); b.BootID != "boot-1" || b.ConsecutiveFailures != 0 {
		t.Errorf("b1: boot %q failures %d", b.BootID, b.ConsecutiveFailures)
	}
}

func TestARestartFindsClaimsTheBuilderRecordDoesNotList(t *testing.T) {
	t.Parallel()
	f := newRestartFarm(t)
	// The builder's record lags behind its claims (or no longer lists
	// them at all): the claims are found through the jobs.
	b, err := f.st.GetBuilder(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	nb := b.Clone()
	nb.CurrentJobs, nb.Version = []string{}, b.Version+1
	if err := f.st.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: nb}}}); err != nil {
		t.Fatal(err)
	}
	f.register(t, "b1", "boot-2", 2)
	for _, old := range f.b1 {
		if j := f.job(t, old.ID); j.Status != farm.StatusQueued {
			t.Errorf("job %s is %s after b1 restarted", j.ID, j.Status)
		}
	}
}
