package jobs_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/followup"
	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var (
	ctx   = context.Background()
	t0    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admin = farm.Principal{Role: farm.RoleAdmin}
	alice = farm.Principal{Role: farm.RoleSubmitter, TokenID: "alice"}
	bob   = farm.Principal{Role: farm.RoleSubmitter, TokenID: "bob"}
	b1    = farm.Principal{Role: farm.RoleBuilder, Builder: "b1"}
)

// bell counts rings.
type bell struct {
	mu    sync.Mutex
	rings map[string]int
}

func (b *bell) Ring(_ context.Context, _, jobID string, _ time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rings[jobID]++
	return nil
}

func (b *bell) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rings[id]
}

// estimates marks the jobs it estimates.
type estimates struct{ calls int }

func (e *estimates) EstimateStarts(_ context.Context, js []*farm.Job) error {
	e.calls++
	for _, j := range js {
		if j.Status == farm.StatusQueued {
			j.EstimatedStartAt = farm.TimePtr(t0.Add(time.Minute))
		}
	}
	return nil
}

type fixture struct {
	*jobs.Service
	mem   *memstore.Store
	blobs *memblobs.Store
	bell  *bell
	est   *estimates
}

func newFixture(t *testing.T, policy farm.Policy) *fixture {
	t.Helper()
	f := &fixture{mem: memstore.New(), blobs: memblobs.New("farm"), bell: &bell{rings: map[string]int{}}, est: &estimates{}}
	now := func() time.Time { return t0 }
	admit := admission.New(nil, farm.NewPools([]string{"default"}), farm.SourcePolicy{Bucket: "farm", Prefix: "incoming/"})
	quiet := slog.New(slog.DiscardHandler)
	follow := followup.New(followup.Options{Store: f.mem, Doorbell: f.bell, Admission: admit, Policy: policy, Clock: now, Logger: quiet})
	f.Service = jobs.New(jobs.Options{Store: f.mem, Admission: admit, FollowUp: follow, Estimates: f.est, Blobs: f.blobs, Policy: policy, Clock: now, Logger: quiet})
	return f
}

// submit submits a script job for by and fails the test on error.
func (f *fixture) submit(t *testing.T, by farm.Principal, payload string, deps ...string) *farm.Job {
	t.Helper()
	j, _, err := f.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(payload), DependsOn: deps,
		RequestedBy: by.Actor(), IdempotencyScope: by.Actor(), Privileged: by.Role == farm.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// set moves job id to status as its builder or the reaper would.
func (f *fixture) set(t *testing.T, id string, status farm.JobStatus, change func(*farm.Job)) *farm.Job {
	t.Helper()
	cur, err := f.mem.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	next := cur.Touched()
	next.Status = status
	if status.Terminal() {
		next.FinishedAt = farm.TimePtr(t0)
	}
	if change != nil {
		change(next)
	}
	if err := f.mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: cur, Next: next}}}); err != nil {
		t.Fatal(err)
	}
	return next
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if !farm.IsCode(err, code) {
		t.Fatalf("error %v, want %s", err, code)
	}
}
