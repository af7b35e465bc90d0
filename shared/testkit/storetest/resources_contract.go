package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunResourceContract checks resource pools: acquire never hands one
// resource to two holders, release goes through a clean-resource job, and
// leases that run out make the resource dirty, never free.
func RunResourceContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	cfg := farm.Policy{Heartbeat: 10 * time.Second}
	str := func(s string) *string { return &s }

	pool := func(t *testing.T, e *Env, n int) {
		t.Helper()
		if _, created, err := e.Resources.PutPool(ctx, "ppas", resources.PoolUpdate{Description: str("test PPAs"), CleanScript: str("rm -rf /srv/ppa/*")}); err != nil || !created {
			t.Fatalf("create pool: %v (created=%v)", err, created)
		}
		for i := range n {
			if _, err := e.Resources.AddResource(ctx, "ppas", fmt.Sprintf("ppa-%d", i), map[string]string{"url": fmt.Sprintf("ppa:test/%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("PoolsAndResourcesAreValidated", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		pool(t, e, 1)
		_, created, err := e.Resources.PutPool(ctx, "ppas", resources.PoolUpdate{LeaseSeconds: ptr(60)})
		must(t, err)
		p, rs, err := e.Resources.Pool(ctx, "ppas")
		must(t, err)
		if created || p.LeaseSeconds != 60 || p.Description != "test PPAs" || len(rs) != 1 || rs[0].State != farm.ResourceFree {
			t.Fatalf("pool %+v resources %+v", p, rs)
		}
		_, _, err = e.Resources.PutPool(ctx, "devices", resources.PoolUpdate{})
		must(t, err)
		pools, err := e.Store.ListResourcePools(ctx)
		must(t, err)
		if len(pools) != 2 || pools[0].Name != "devices" || pools[1].Name != "ppas" || pools[1].LeaseSeconds != 60 {
			t.Fatalf("pools %+v", pools)
		}
		_, err = e.Resources.AddResource(ctx, "ppas", "ppa-0", nil)
		mustCode(t, err, farm.EConflict)
		_, err = e.Resources.AddResource(ctx, "nope", "x", nil)
		mustCode(t, err, farm.ENotFound)
		_, err = e.Resources.AddResource(ctx, "ppas", "bad name", nil)
		mustCode(t, err, farm.EInvalid)
		_, _, err = e.Resources.PutPool(ctx, "Bad Pool", resources.PoolUpdate{})
		mustCode(t, err, farm.EInvalid)
		_, _, err = e.Resources.PutPool(ctx, "ppas", resources.PoolUpdate{LeaseSeconds: ptr(0)})
		mustCode(t, err, farm.EInvalid)
		_, err = e.Resources.Acquire(ctx, Submitter("x"), "ppas", "", 0)
		mustCode(t, err, farm.EInvalid)
	})

	t.Run("ConcurrentAcquiresNeverShareAResource", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		pool(t, e, 5)
		var wg sync.WaitGroup
		var mu sync.Mutex
		holders := map[string]string{}
		noneFree := 0
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holder := fmt.Sprintf("holder-%02d", i)
				r, err := e.Resources.Acquire(ctx, Submitter(holder), "ppas", holder, 0)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case farm.IsCode(err, farm.ENoneFree):
					noneFree++
				case err != nil:
					t.Errorf("acquire: %v", err)
				default:
					if prev, dup := holders[r.Name]; dup {
						t.Errorf("%s handed to both %s and %s", r.Name, prev, holder)
					}
					holders[r.Name] = holder
				}
			}()
		}
		wg.Wait()
		if len(holders) != 5 || noneFree != 25 {
			t.Fatalf("%d resources handed out, %d told none_free; want 5 and 25", len(holders), noneFree)
		}
		_, rs, _ := e.Resources.Pool(ctx, "ppas")
		for _, r := range rs {
			if r.State != farm.ResourceUsed || r.Holder != holders[r.Name] || r.LeaseToken == "" {
				t.Fatalf("resource %+v", r)
			}
		}
	})

	t.Run("ReleaseCleansThenFrees", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		pool(t, e, 1)
		e.Builder(t, "cleaner", 1)
		r, err := e.Resources.Acquire(ctx, Submitter("ci"), "ppas", "ci-run-1", 0)
		must(t, err)
		_, err = e.Resources.Release(ctx, Submitter("ci"), "ppas", r.Name, "wrong")
		mustCode(t, err, farm.EConflict)
		released, err := e.Resources.Release(ctx, Submitter("ci"), "ppas", r.Name, r.LeaseToken)
		must(t, err)
		if released.State != farm.ResourceDirty || released.CleanJobID == "" || released.Holder != "" {
			t.Fatalf("released %+v", released)
		}
		_, err = e.Resources.Release(ctx, Submitter("ci"), "ppas", r.Name, r.LeaseToken)
		mustCode(t, err, farm.EConflict)
		clean, err := e.Store.GetJob(ctx, released.CleanJobID)
		must(t, err)
		var args farm.CleanResourceArgs
		must(t, json.Unmarshal(clean.Payload, &args))
		if clean.Type != farm.TypeCleanResource || clean.Status != farm.StatusQueued || args.Resource != r.Name || args.CleanScript != "rm -rf /srv/ppa/*" {
			t.Fatalf("clean job %+v payload %s", clean, clean.Payload)
		}
		// While dirty it is not acquirable.
		_, err = e.Resources.Acquire(ctx, Submitter("ci"), "ppas", "ci-run-2", 0)
		mustCode(t, err, farm.ENoneFree)
		j, err := e.Claim(ctx, "cleaner", "default")
		must(t, err)
		if j == nil || j.ID != clean.ID {
			t.Fatalf("claimed %v, want the clean job", j)
		}
		if got, _ := e.Store.GetResource(ctx, "ppas", r.Name); got.State != farm.ResourceCleaning {
			t.Fatalf("resource %s while its clean job runs", got.State)
		}
		_, err = e.Claims.Record(ctx, "cleaner", j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: farm.StatusSucceeded})
		must(t, err)
		if got, _ := e.Store.GetResource(ctx, "ppas", r.Name); got.State != farm.ResourceFree || got.CleanJobID != "" {
			t.Fatalf("resource after cleaning %+v", got)
		}
		_, err = e.Resources.Acquire(ctx, Submitter("ci"), "ppas", "ci-run-2", 0)
		must(t, err)
	})

	t.Run("FailedCleaningRetriesThenFlags", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		pool(t, e, 1)
		e.Builder(t, "cleaner", 1)
		r, err := e.Resources.Acquire(ctx, Submitter("h"), "ppas", "h", 0)
		must(t, err)
		released, err := e.Resources.Release(ctx, Submitter("h"), "ppas", r.Name, r.LeaseToken)
		must(t, err)
		for i := 1; i <= farm.MaxCleanFailures; i++ {
			j, err := e.Claim(ctx, "cleaner", "default")
			must(t, err)
			if j == nil || j.ID != released.CleanJobID {
				t.Fatalf("round %d: claimed %v, want the clean job again", i, j)
			}
			_, err = e.Claims.Record(ctx, "cleaner", j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: farm.StatusFailed, Error: "disk full"})
			must(t, err)
		}
		got, _ := e.Store.GetResource(ctx, "ppas", r.Name)
		if got.State != farm.ResourceDirty || got.CleanFailures != farm.MaxCleanFailures || !strings.Contains(got.Flagged, "disk full") {
			t.Fatalf("resource %+v", got)
		}
		if j, _ := e.Claim(ctx, "cleaner", "default"); j != nil {
			t.Fatal("a flagged resource's clean job was retried again by itself")
		}
	})

	t.Run("ExpiredHolderLosesTheResourceToDirty", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, cfg)
		pool(t, e, 1)
		r, err := e.Resources.Acquire(ctx, Submitter("f"), "ppas", "forgetful", 30)
		must(t, err)
		e.Clock.Advance(31 * time.Second)
		rep, err := e.Reaper.Reap(ctx)
		must(t, err)
		got, _ := e.Store.GetResource(ctx, "ppas", r.Name)
		if rep.ResourcesExpired != 1 || got.State != farm.ResourceDirty || got.CleanJobID == "" {
			t.Fatalf("report %+v resource %+v", rep, got)
		}
		// Release and expiry racing make one clean job: the late release is refused.
		_, err = e.Resources.Release(ctx, Submitter("f"), "ppas", r.Name, r.LeaseToken)
		mustCode(t, err, farm.EConflict)
		page, _ := e.Store.ListJobs(ctx, store.JobFilter{Type: farm.TypeCleanResource})
		if len(page.Jobs) != 1 {
			t.Fatalf("%d clean jobs, want 1", len(page.Jobs))
		}
	})
}
