package resources_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/followup"
	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var (
	ctx   = context.Background()
	t0    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admin = farm.Principal{Role: farm.RoleAdmin}
	alice = farm.Principal{Role: farm.RoleSubmitter, TokenID: "alice"}
	bob   = farm.Principal{Role: farm.RoleSubmitter, TokenID: "bob"}
)

type fixture struct {
	*resources.Service
	mem *memstore.Store
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mem: memstore.New(), now: t0}
	clock := func() time.Time { return f.now }
	quiet := slog.New(slog.DiscardHandler)
	admit := admission.New(nil, farm.NewPools([]string{"default"}), farm.SourcePolicy{})
	follow := followup.New(followup.Options{Store: f.mem, Admission: admit, Clock: clock, Logger: quiet})
	js := jobs.New(jobs.Options{Store: f.mem, Admission: admit, FollowUp: follow, Clock: clock, Logger: quiet})
	f.Service = resources.New(resources.Options{Store: f.mem, Jobs: js, FollowUp: follow, Admission: admit, Clock: clock, Logger: quiet})
	return f
}

func (f *fixture) pool(t *testing.T, n int) {
	t.Helper()
	if _, _, err := f.PutPool(ctx, "ppas", resources.PoolUpdate{CleanScript: ptr("rm -rf /srv/ppa/*")}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := f.AddResource(ctx, "ppas", fmt.Sprintf("ppa-%d", i), map[string]string{"url": fmt.Sprint("ppa:x/", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestPutPool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		pool  string
		u     resources.PoolUpdate
		field string
	}{
		{"bad name", "PPAs", resources.PoolUpdate{}, "pool"},
		{"lease too short", "ppas", resources.PoolUpdate{LeaseSeconds: ptr(0)}, "lease_seconds"},
		{"lease too long", "ppas", resources.PoolUpdate{LeaseSeconds: ptr(resources.MaxResourceLeaseSeconds + 1)}, "lease_seconds"},
		{"clean script too long", "ppas", resources.PoolUpdate{CleanScript: ptr(strings.Repeat("x", farm.MaxCleanScriptBytes+1))}, "clean_script"},
		{"description too long", "ppas", resources.PoolUpdate{Description: ptr(strings.Repeat("x", resources.MaxDescription+1))}, "description"},
	} {
		if _, _, err := f.PutPool(ctx, tc.pool, tc.u); !farm.IsCode(err, farm.EInvalid) || err.(*farm.Error).Field != tc.field {
			t.Errorf("%s: %v, want invalid %s", tc.name, err, tc.field)
		}
	}
	p, created, err := f.PutPool(ctx, "ppas", resources.PoolUpdate{Description: ptr("PPAs")})
	if err != nil || !created || p.LeaseSeconds != resources.DefaultResourceLeaseSeconds || p.Description != "PPAs" {
		t.Fatalf("created %+v %v %v", p, created, err)
	}
	p, created, err = f.PutPool(ctx, "ppas", resources.PoolUpdate{LeaseSeconds: ptr(60)})
	if err != nil || created || p.LeaseSeconds != 60 || p.Description != "PPAs" {
		t.Fatalf("updated %+v %v %v", p, created, err)
	}
	if _, err := f.AddResource(ctx, "nope", "r", nil); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("resource in an unknown pool: %v", err)
	}
	f.pool(t, 1)
	if _, err := f.AddResource(ctx, "ppas", "ppa-0", nil); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("resource added twice: %v", err)
	}
	pools, err := f.Pools(ctx)
	if err != nil || len(pools) != 1 {
		t.Fatalf("pools %+v %v", pools, err)
	}
}

// Concurrent acquirers never share a resource; the rest hear none_free.
func TestAcquireIsExclusive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pool(t, 3)
	var mu sync.Mutex
	held, none := map[string]string{}, 0
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			r, err := f.Acquire(ctx, alice, "ppas", fmt.Sprint("h", i), 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case farm.IsCode(err, farm.ENoneFree):
				none++
			case err != nil:
				t.Error(err)
			default:
				if prev, dup := held[r.Name]; dup {
					t.Errorf("%s held by %s and %s", r.Name, prev, r.Holder)
				}
				held[r.Name] = r.Holder
				if r.AcquiredBy != alice.Actor() || r.LeaseToken == "" || !r.LeaseExpiresAt.Equal(t0.Add(time.Hour)) {
					t.Errorf("acquired %+v", r)
				}
			}
		})
	}
	wg.Wait()
	if len(held) != 3 || none != 7 {
		t.Fatalf("%d held, %d refused", len(held), none)
	}
	for _, tc := range []struct {
		name   string
		holder string
		lease  int
		code   string
	}{{"no holder", " ", 0, farm.EInvalid}, {"lease too long", "h", resources.MaxResourceLeaseSeconds + 1, farm.EInvalid}} {
		if _, err := f.Acquire(ctx, alice, "ppas", tc.holder, tc.lease); !farm.IsCode(err, tc.code) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Only the acquirer (or an admin) releases, and only with the lease token;
// a released resource is dirty with a queued clean job, free once it
// succeeded.
func TestRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pool(t, 1)
	r, err := f.Acquire(ctx, alice, "ppas", "ci-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		by    farm.Principal
		token string
		code  string
	}{
		{"no token", alice, "", farm.EInvalid},
		{"another submitter", bob, r.LeaseToken, farm.EForbidden},
		{"wrong token", alice, "wrong", farm.EConflict},
		{"unknown resource", alice, r.LeaseToken, farm.ENotFound},
	} {
		name := r.Name
		if tc.name == "unknown resource" {
			name = "nope"
		}
		if _, err := f.Release(ctx, tc.by, "ppas", name, tc.token); !farm.IsCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	released, err := f.Release(ctx, admin, "ppas", r.Name, r.LeaseToken)
	if err != nil || released.State != farm.ResourceDirty || released.CleanJobID == "" || released.LeaseToken != "" {
		t.Fatalf("released %+v %v", released, err)
	}
	// Released once: the token is spent, for its holder too.
	if _, err := f.Release(ctx, alice, "ppas", r.Name, r.LeaseToken); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("second release: %v", err)
	}
	clean, err := f.mem.GetJob(ctx, released.CleanJobID)
	if err != nil || clean.Type != farm.TypeCleanResource || clean.Status != farm.StatusQueued || !strings.Contains(string(clean.Payload), "rm -rf") {
		t.Fatalf("clean job %+v %v", clean, err)
	}
	// The clean job succeeds: reading the pool brings the resource in line.
	next := clean.Touched()
	next.Status, next.FinishedAt = farm.StatusSucceeded, farm.TimePtr(t0)
	if err := f.mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: clean, Next: next}}}); err != nil {
		t.Fatal(err)
	}
	_, rs, err := f.Pool(ctx, "ppas")
	if err != nil || len(rs) != 1 || rs[0].State != farm.ResourceFree {
		t.Fatalf("pool after cleaning %+v %v", rs, err)
	}
}

// A holder whose lease ran out loses the resource to cleaning, once.
func TestExpireLeases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pool(t, 2)
	r, err := f.Acquire(ctx, alice, "ppas", "forgetful", 30)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.ExpireLeases(ctx, 10); n != 0 || err != nil {
		t.Fatalf("expired %d early: %v", n, err)
	}
	f.now = f.now.Add(31 * time.Second)
	if n, err := f.ExpireLeases(ctx, 10); n != 1 || err != nil {
		t.Fatalf("expired %d: %v", n, err)
	}
	got, err := f.mem.GetResource(ctx, "ppas", r.Name)
	if err != nil || got.State != farm.ResourceDirty || got.CleanJobID == "" {
		t.Fatalf("expired resource %+v %v", got, err)
	}
	if _, err := f.Release(ctx, alice, "ppas", r.Name, r.LeaseToken); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("release after expiry: %v", err)
	}
	if n, _ := f.ExpireLeases(ctx, 10); n != 0 {
		t.Fatal("expired twice")
	}
}
