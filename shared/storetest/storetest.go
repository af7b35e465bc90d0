// Package storetest is the one conformance suite every scheduler.Store must
// pass: the in-memory fake and the DynamoDB store run the same tests, so the
// fake the unit tests trust behaves like the real thing.
package storetest

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/scheduler"
)

// NewStore returns an empty store for one test.
type NewStore func(t *testing.T) scheduler.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Store", func(t *testing.T) { RunStoreContract(t, newStore) })
	t.Run("Listing", func(t *testing.T) { RunListingContract(t, newStore) })
	t.Run("TimeToStart", func(t *testing.T) { RunTimeToStartContract(t, newStore) })
	t.Run("Scheduler", func(t *testing.T) { RunSchedulerContract(t, newStore) })
	t.Run("Resources", func(t *testing.T) { RunResourceContract(t, newStore) })
	t.Run("Limits", func(t *testing.T) { RunLimitsContract(t, newStore) })
	t.Run("Scaler", func(t *testing.T) { RunScalerContract(t, newStore) })
}

// Pools served by the schedulers the suite builds.
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

// Env is a scheduler over a fresh store with a test clock and bell.
type Env struct {
	Store scheduler.Store
	Sched *scheduler.Scheduler
	Clock *Clock
	Bell  *Bell
}

// NewEnv builds an Env.
func NewEnv(t *testing.T, newStore NewStore, cfg scheduler.Config) *Env {
	e := &Env{Store: newStore(t), Clock: NewClock(), Bell: &Bell{}}
	e.Sched = scheduler.New(scheduler.Options{Store: e.Store, Doorbell: e.Bell, Pools: Pools, Config: cfg, Clock: e.Clock.Now, Logger: slog.New(slog.DiscardHandler)})
	return e
}

// ScriptJob submits a script job and fails the test on error.
func (e *Env) ScriptJob(t *testing.T, pool string, priority int64) *farm.Job {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"script": "true", "pool": pool})
	j, created, err := e.Sched.Submit(context.Background(), scheduler.SubmitRequest{Type: farm.TypeScript, Payload: payload, Priority: &priority, RequestedBy: "submitter:test"})
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
	b, err := e.Sched.RegisterBuilder(context.Background(), name, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: pools, Slots: slots})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return b
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
