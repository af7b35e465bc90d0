// Package storetest is the one conformance suite every store.Store must
// pass: the in-memory fake and the DynamoDB store run the same tests — the
// store's own contract, and the farm's rules end to end through its
// services over it — so the fake the unit tests trust behaves like the
// real thing.
package storetest

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// NewStore returns an empty store for one test.
type NewStore func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Store", func(t *testing.T) { RunStoreContract(t, newStore) })
	t.Run("OwnWrite", func(t *testing.T) { RunOwnWriteContract(t, newStore) })
	t.Run("Completion", func(t *testing.T) { RunCompletionContract(t, newStore) })
	t.Run("LogChunks", func(t *testing.T) { RunLogChunkContract(t, newStore) })
	t.Run("Listing", func(t *testing.T) { RunListingContract(t, newStore) })
	t.Run("TimeToStart", func(t *testing.T) { RunTimeToStartContract(t, newStore) })
	t.Run("Rules", func(t *testing.T) { RunRulesContract(t, newStore) })
	t.Run("Resources", func(t *testing.T) { RunResourceContract(t, newStore) })
	t.Run("Limits", func(t *testing.T) { RunLimitsContract(t, newStore) })
	t.Run("Scaler", func(t *testing.T) { RunScalerContract(t, newStore) })
	t.Run("Faults", func(t *testing.T) { RunFaultsContract(t, newStore) })
	t.Run("AuthGen", func(t *testing.T) { RunAuthGenContract(t, newStore) })
}

// Pools served by the farms the suite builds.
var Pools = []string{"default", "amd64", "arm64"}

// Clock is a settable test clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at a fixed, millisecond-aligned time.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// Now returns the current test time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Bell records doorbell rings.
type Bell struct {
	mu    sync.Mutex
	Rings []Ring
}

// Ring is one recorded ring.
type Ring struct {
	Pool, JobID string
	Delay       time.Duration
}

// Ring records a ring.
func (b *Bell) Ring(_ context.Context, pool, jobID string, delay time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Rings = append(b.Rings, Ring{pool, jobID, delay})
	return nil
}

// Count returns how many rings named jobID.
func (b *Bell) Count(jobID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.Rings {
		if r.JobID == jobID {
			n++
		}
	}
	return n
}

// Env is a farm's services over a fresh store, with a test clock, a
// recording doorbell and in-memory blobs.
type Env struct {
	*wiring.Services
	Store store.Store
	Clock *Clock
	Bell  *Bell
	Blobs *memblobs.Store
}

// Callers the suite acts as.
var (
	// Admin is an admin token's principal.
	Admin = farm.Principal{Role: farm.RoleAdmin}
)

// Submitter is the principal of submitter token id (actor "submitter:<id>").
func Submitter(id string) farm.Principal {
	return farm.Principal{Role: farm.RoleSubmitter, TokenID: id}
}

// NewEnv builds an Env.
func NewEnv(t *testing.T, newStore NewStore, policy farm.Policy) *Env {
	return NewEnvWith(t, newStore, wiring.Deps{Policy: policy})
}

// NewEnvWith builds an Env from deps, filling in the store, pools, clock,
// doorbell, blobs and a quiet logger.
func NewEnvWith(t *testing.T, newStore NewStore, deps wiring.Deps) *Env {
	e := &Env{Store: newStore(t), Clock: NewClock(), Bell: &Bell{}, Blobs: memblobs.New("storetest")}
	deps.Store, deps.Doorbell, deps.Blobs, deps.Pools, deps.Clock = e.Store, e.Bell, e.Blobs, Pools, e.Clock.Now
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	e.Services = wiring.NewServices(deps)
	return e
}

// ScriptJob submits a script job and fails the test on error.
func (e *Env) ScriptJob(t *testing.T, pool string, priority int64) *farm.Job {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"script": "true", "pool": pool})
	j, created, err := e.Jobs.Submit(context.Background(), admission.Request{Type: farm.TypeScript, Payload: payload, Priority: &priority, RequestedBy: "submitter:test"})
	if err != nil || !created {
		t.Fatalf("submit: %v (created=%v)", err, created)
	}
	return j
}

// Builder registers a builder serving pools.
func (e *Env) Builder(t *testing.T, name string, slots int, pools ...string) *farm.Builder {
	t.Helper()
	if len(pools) == 0 {
		pools = []string{"default"}
	}
	reg, err := e.Builders.Register(context.Background(), Admin, name, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: pools, Slots: slots})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return reg.Builder
}

// Claim claims the best job of pool for builder (nil when there is none).
func (e *Env) Claim(ctx context.Context, builder, pool string) (*farm.Job, error) {
	c, err := e.Claims.Claim(ctx, farm.Principal{Role: farm.RoleBuilder, Builder: builder}, builder, pool)
	if c == nil {
		return nil, err
	}
	return c.Job, err
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if !farm.IsCode(err, code) {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
