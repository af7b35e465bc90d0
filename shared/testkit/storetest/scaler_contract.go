package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// FleetStore is what the elastic fleet adds to a store: the scaler's view
// of the work and its records, and instance identity claims.
type FleetStore interface {
	store.Store
	CountPoolJobs(ctx context.Context, pool string, upTo int) (fleet.Demand, error)
	GetScalerRecord(ctx context.Context, pool string) (*fleet.Record, error)
	PutScalerRecord(ctx context.Context, prev, next *fleet.Record) error
	DeleteBuilder(ctx context.Context, prev *farm.Builder) error
	GetInstanceClaim(ctx context.Context, id string) (*fleet.InstanceClaim, error)
	PutInstanceClaim(ctx context.Context, prev, next *fleet.InstanceClaim) error
}

// RunScalerContract checks the fleet's store methods and the services'
// rules the scaler relies on: drain requests fence claims, handed-back
// jobs are requeued at once.
func RunScalerContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	cfg := farm.Policy{Heartbeat: 10 * time.Second, RequeueBackoff: 5 * time.Second}
	fleetStore := func(t *testing.T, e *Env) FleetStore {
		fs, ok := e.Store.(FleetStore)
		if !ok {
			t.Fatalf("%T lacks the fleet's store methods", e.Store)
		}
		return fs
	}

	t.Run("CountPoolJobs", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		fs := fleetStore(t, e)
		for range 5 {
			e.ScriptJob(t, "default", 0)
		}
		e.ScriptJob(t, "arm64", 0)
		e.Builder(t, "b1", 2)
		for range 2 {
			j, err := e.Claim(ctx, "b1", "default")
			must(t, err)
			if j == nil {
				t.Fatal("nothing claimed")
			}
		}
		d, err := fs.CountPoolJobs(ctx, "default", 0)
		must(t, err)
		if d != (fleet.Demand{Queued: 3, Running: 2}) {
			t.Fatalf("default: %+v, want 3 queued 2 running", d)
		}
		if d, _ := fs.CountPoolJobs(ctx, "default", 2); d != (fleet.Demand{Queued: 2, Running: 2}) {
			t.Fatalf("bounded at 2: %+v", d)
		}
		if d, _ := fs.CountPoolJobs(ctx, "amd64", 0); d != (fleet.Demand{}) {
			t.Fatalf("amd64: %+v", d)
		}
	})

	t.Run("ScalerRecordIsConditional", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		fs := fleetStore(t, e)
		r0, err := fs.GetScalerRecord(ctx, "default")
		must(t, err)
		if r0.Version != 0 || r0.Pool != "default" {
			t.Fatalf("fresh record %+v", r0)
		}
		now := e.Clock.Now()
		r1 := r0.Clone()
		r1.Version, r1.LeaseUntil, r1.Holder, r1.Desired = 1, now.Add(time.Minute), "run-a", 3
		r1.Marks["i-1"] = fleet.Mark{FirstSeen: now, IdleSince: now.Add(time.Second), Completed: 4}
		must(t, fs.PutScalerRecord(ctx, r0, r1))
		// A second run that read the same version loses.
		lost := r0.Clone()
		lost.Version, lost.Holder = 1, "run-b"
		if err := fs.PutScalerRecord(ctx, r0, lost); !errors.Is(err, store.ErrLostRace) {
			t.Fatalf("overlapping write: %v, want a lost race", err)
		}
		got, err := fs.GetScalerRecord(ctx, "default")
		must(t, err)
		if got.Version != 1 || got.Holder != "run-a" || got.Desired != 3 || !got.LeaseUntil.Equal(r1.LeaseUntil) || got.Marks["i-1"] != r1.Marks["i-1"] {
			t.Fatalf("stored %+v, want %+v", got, r1)
		}
	})

	t.Run("InstanceClaimIsConditional", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		fs := fleetStore(t, e)
		_, err := fs.GetInstanceClaim(ctx, "i-0abc")
		mustCode(t, err, farm.ENotFound)
		now := e.Clock.Now()
		c := &fleet.InstanceClaim{InstanceID: "i-0abc", NonceHash: "h1", Pool: "default", FirstAt: now, LastAt: now, ExpiresAt: now.Add(24 * time.Hour).Truncate(time.Second), Version: 1}
		must(t, fs.PutInstanceClaim(ctx, nil, c))
		if err := fs.PutInstanceClaim(ctx, nil, &fleet.InstanceClaim{InstanceID: "i-0abc", NonceHash: "h2", Version: 1}); !errors.Is(err, store.ErrLostRace) {
			t.Fatalf("second first claim: %v, want a lost race", err)
		}
		got, err := fs.GetInstanceClaim(ctx, "i-0abc")
		must(t, err)
		if *got != *c {
			t.Fatalf("stored %+v, want %+v", got, c)
		}
	})

	t.Run("DrainRequestFencesClaims", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b1", 1)
		j := e.ScriptJob(t, "default", 0)
		b, err := e.Builders.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: "scale-in", OnlyIdle: true})
		must(t, err)
		if !b.DrainRequested || b.State != farm.BuilderDraining || b.DrainRequestedAt == nil {
			t.Fatalf("drained builder %+v", b)
		}
		if got, err := e.Claim(ctx, "b1", "default"); got != nil || !farm.IsCode(err, farm.EConflict) {
			t.Fatalf("claim while drained: %v %v, want a conflict", got, err)
		}
		hb, err := e.Claims.Heartbeat(ctx, "b1", nil, false)
		must(t, err)
		if !hb.Drain {
			t.Fatal("heartbeat of a drained builder does not say drain")
		}
		// Registering again (an agent restart) does not lift it.
		e.Builder(t, "b1", 1)
		if got, _ := e.Claim(ctx, "b1", "default"); got != nil {
			t.Fatal("re-registered drained builder claimed")
		}
		_, err = e.Builders.LiftDrain(ctx, "b1")
		must(t, err)
		got, err := e.Claim(ctx, "b1", "default")
		must(t, err)
		if got == nil || got.ID != j.ID {
			t.Fatalf("claim after the drain was lifted: %v", got)
		}
		// A busy builder is not drained when only idle ones may be.
		_, err = e.Builders.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: "scale-in", OnlyIdle: true})
		mustCode(t, err, farm.EConflict)
		if b, _ := e.Store.GetBuilder(ctx, "b1"); b.DrainRequested {
			t.Fatal("a busy builder was drained")
		}
		// An instance that never registered gets a drained placeholder, and
		// registering later does not let it claim.
		p, err := e.Builders.RequestDrain(ctx, builders.DrainRequest{Name: "i-0new", Reason: "never registered", OnlyIdle: true, Placeholder: map[string]string{"fleet_group": "g"}})
		must(t, err)
		if !p.DrainRequested || len(p.Pools) != 0 || p.Metadata["fleet_group"] != "g" {
			t.Fatalf("placeholder %+v", p)
		}
		e.ScriptJob(t, "default", 0)
		e.Builder(t, "i-0new", 1)
		if got, _ := e.Claim(ctx, "i-0new", "default"); got != nil {
			t.Fatal("an instance drained before it registered claimed")
		}
		fs := fleetStore(t, e)
		stale := p.Clone()
		if err := fs.DeleteBuilder(ctx, stale); !errors.Is(err, store.ErrLostRace) {
			t.Fatalf("delete of a changed builder: %v", err)
		}
		cur, err := e.Store.GetBuilder(ctx, "i-0new")
		must(t, err)
		must(t, fs.DeleteBuilder(ctx, cur))
		_, err = e.Store.GetBuilder(ctx, "i-0new")
		mustCode(t, err, farm.ENotFound)
	})

	t.Run("HandBackRequeuesAtOnce", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		e.Builder(t, "b1", 1)
		e.Builder(t, "b2", 1)
		j := e.ScriptJob(t, "default", 0)
		run, err := e.Claim(ctx, "b1", "default")
		must(t, err)
		_, err = e.Claims.Requeue(ctx, "b1", j.ID, "stale", "spot interruption")
		mustCode(t, err, farm.EConflict)
		_, err = e.Claims.Requeue(ctx, "b2", j.ID, run.ClaimToken, "spot interruption")
		mustCode(t, err, farm.EConflict)
		_, err = e.Claims.Requeue(ctx, "b1", j.ID, run.ClaimToken, " ")
		mustCode(t, err, farm.EInvalid)
		rings := e.Bell.Count(j.ID)
		back, err := e.Claims.Requeue(ctx, "b1", j.ID, run.ClaimToken, "spot interruption notice: terminate at 12:02")
		must(t, err)
		if back.Status != farm.StatusQueued || back.Attempts != 0 || back.NotBefore != nil || back.Builder != "" || back.ClaimToken != "" {
			t.Fatalf("handed back %+v", back)
		}
		if e.Bell.Count(j.ID) <= rings {
			t.Fatal("the pool was not rung for the requeued job")
		}
		if b, _ := e.Store.GetBuilder(ctx, "b1"); len(b.CurrentJobs) != 0 {
			t.Fatalf("b1 still holds %v", b.CurrentJobs)
		}
		evs, err := e.Store.JobEvents(ctx, j.ID)
		must(t, err)
		last := evs[len(evs)-1]
		if last.From != farm.StatusRunning || last.To != farm.StatusQueued || last.Actor != "builder:b1" || !contains(last.Detail, "spot interruption notice") {
			t.Fatalf("history %+v", last)
		}
		// The old claim is dead; b2 claims it now, with no lease to wait out.
		_, err = e.Claims.Record(ctx, "b1", j.ID, farm.Completion{ClaimToken: run.ClaimToken, Result: farm.StatusSucceeded})
		mustCode(t, err, farm.EConflict)
		again, err := e.Claim(ctx, "b2", "default")
		must(t, err)
		if again == nil || again.ID != j.ID || again.Attempts != 1 {
			t.Fatalf("claim after hand-back: %+v", again)
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
