package claims_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/followup"
	appmetrics "github.com/buildfarm/buildfarm/shared/app/metrics"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var (
	ctx   = context.Background()
	t0    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admin = farm.Principal{Role: farm.RoleAdmin}
	alice = farm.Principal{Role: farm.RoleSubmitter, TokenID: "alice"}
)

func builder(name string) farm.Principal {
	return farm.Principal{Role: farm.RoleBuilder, Builder: name}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// metrics records published values (claims made at once publish at once).
type metrics struct {
	mu     sync.Mutex
	values []string
}

func (m *metrics) Publish(_ time.Time, dims map[string]string, ms ...appmetrics.Metric) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range ms {
		m.values = append(m.values, fmt.Sprintf("%s %s=%v%s", dims["Pool"], v.Name, v.Value, v.Unit))
	}
	return nil
}

type fixture struct {
	*claims.Service
	mem      *memstore.Store
	blobs    *memblobs.Store
	builders *builders.Service
	admit    *admission.Admission
	clock    *clock
	metrics  *metrics
	opts     claims.Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mem: memstore.New(), blobs: memblobs.New("farm"), clock: &clock{now: t0}, metrics: &metrics{}}
	pools := farm.NewPools([]string{"default", "amd64"})
	policy := farm.Policy{Heartbeat: 10 * time.Second}
	quiet := slog.New(slog.DiscardHandler)
	f.admit = admission.New(nil, pools, farm.SourcePolicy{Bucket: "farm", Prefix: "incoming/"})
	f.builders = builders.New(builders.Options{Store: f.mem, Pools: pools, Policy: policy, Clock: f.clock.Now, Logger: quiet})
	follow := followup.New(followup.Options{Store: f.mem, Admission: f.admit, Policy: policy, Clock: f.clock.Now, Logger: quiet})
	f.opts = claims.Options{Store: f.mem, Builders: f.builders, FollowUp: follow, Blobs: f.blobs,
		Metrics: f.metrics, Pools: pools, Policy: policy, Clock: f.clock.Now, Logger: quiet}
	f.Service = claims.New(f.opts)
	return f
}

// withStore is the fixture's service over s instead of its store.
func (f *fixture) withStore(s claims.Store) *claims.Service {
	o := f.opts
	o.Store = s
	return claims.New(o)
}

// register registers a builder of slots slots for pools.
func (f *fixture) register(t *testing.T, name string, slots int, pools ...string) {
	t.Helper()
	if len(pools) == 0 {
		pools = []string{"default"}
	}
	if _, err := f.builders.Register(ctx, admin, name, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: pools, Slots: slots}); err != nil {
		t.Fatal(err)
	}
}

// queue stores a job as the jobs service would: admitted, queued.
func (f *fixture) queue(t *testing.T, typ, payload string, priority int64) *farm.Job {
	t.Helper()
	j, err := f.admit.NewJob(admission.Request{Type: typ, Payload: json.RawMessage(payload), Priority: &priority, RequestedBy: alice.Actor(), Privileged: true}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	j.QueuedAt = farm.TimePtr(f.clock.Now())
	ev := &farm.JobEvent{JobID: j.ID, Seq: farm.SeqFor(1), At: f.clock.Now(), To: j.Status}
	if err := f.mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: j, Event: ev}}}); err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) script(t *testing.T, priority int64) *farm.Job {
	t.Helper()
	return f.queue(t, farm.TypeScript, `{"script":"true"}`, priority)
}

// claim claims the best default-pool job for name and fails without one.
func (f *fixture) claim(t *testing.T, name string) *claims.Claim {
	t.Helper()
	c, err := f.Claim(ctx, builder(name), name, "default")
	if err != nil || c == nil {
		t.Fatalf("claim for %s: %+v %v", name, c, err)
	}
	return c
}

func (f *fixture) job(t *testing.T, id string) *farm.Job {
	t.Helper()
	j, err := f.mem.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// Store is the fixture's store.
func (f *fixture) Store() *memstore.Store { return f.mem }

// cancelling is the transaction that asks for job id's cancel, as the jobs
// service would.
func cancelling(t *testing.T, f *fixture, id string) store.Tx {
	t.Helper()
	cur := f.job(t, id)
	next, ev, err := cur.Cancel("admin", f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return store.Tx{Jobs: []store.JobWrite{{Prev: cur, Next: next, Event: ev}}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fieldOf(err error) string {
	if fe, ok := err.(*farm.Error); ok {
		return fe.Field
	}
	return ""
}
