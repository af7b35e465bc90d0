package reaper_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/followup"
	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var (
	ctx   = context.Background()
	t0    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admin = farm.Principal{Role: farm.RoleAdmin}
)

type bell struct {
	mu    sync.Mutex
	rings []string
}

func (b *bell) Ring(_ context.Context, pool, _ string, _ time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rings = append(b.rings, pool)
	return nil
}

type timers struct{ armed map[string]time.Time }

func (tm *timers) Arm(_ context.Context, id string, at time.Time) error {
	tm.armed[id] = at
	return nil
}

type fixture struct {
	*reaper.Service
	mem       *memstore.Store
	now       time.Time
	jobs      *jobs.Service
	claims    *claims.Service
	builders  *builders.Service
	resources *resources.Service
	bell      *bell
	timers    *timers
}

// policy: 10 s heartbeats, 30 s leases, requeues after 1 s, a builder
// disabled after 2 failures in a row, a job failed after 3 lost builders.
var policy = farm.Policy{Heartbeat: 10 * time.Second, RequeueBackoff: time.Second, BuilderMaxFailures: 2, JobMaxBuilderFailures: 3}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mem: memstore.New(), now: t0, bell: &bell{}, timers: &timers{armed: map[string]time.Time{}}}
	clock := func() time.Time { return f.now }
	quiet := slog.New(slog.DiscardHandler)
	pools := farm.NewPools([]string{"default"})
	admit := admission.New(nil, pools, farm.SourcePolicy{})
	follow := followup.New(followup.Options{Store: f.mem, Doorbell: f.bell, Admission: admit, Policy: policy, Clock: clock, Logger: quiet})
	f.jobs = jobs.New(jobs.Options{Store: f.mem, Admission: admit, FollowUp: follow, Policy: policy, Clock: clock, Logger: quiet})
	f.builders = builders.New(builders.Options{Store: f.mem, Pools: pools, Policy: policy, Clock: clock, Logger: quiet})
	f.claims = claims.New(claims.Options{Store: f.mem, Builders: f.builders, FollowUp: follow, Pools: pools, Policy: policy, Clock: clock, Logger: quiet})
	f.resources = resources.New(resources.Options{Store: f.mem, Jobs: f.jobs, FollowUp: follow, Admission: admit, Clock: clock, Logger: quiet})
	f.Service = reaper.New(reaper.Options{Store: f.mem, Builders: f.builders, FollowUp: follow, Resources: f.resources, Doorbell: f.bell,
		LeaseTimer: f.timers, Pools: pools, Policy: policy, Clock: clock, Logger: quiet})
	return f
}

func (f *fixture) submit(t *testing.T, payload string) *farm.Job {
	t.Helper()
	j, _, err := f.jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(payload), RequestedBy: "submitter:a"})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) register(t *testing.T, name string) {
	t.Helper()
	if _, err := f.builders.Register(ctx, admin, name, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"default"}, Slots: 1}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) claim(t *testing.T, name string) *farm.Job {
	t.Helper()
	c, err := f.claims.Claim(ctx, admin, name, "default")
	if err != nil || c == nil {
		t.Fatalf("claim for %s: %+v %v", name, c, err)
	}
	return c.Job
}

func (f *fixture) job(t *testing.T, id string) *farm.Job {
	t.Helper()
	j, err := f.mem.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) builder(t *testing.T, name string) *farm.Builder {
	t.Helper()
	b, err := f.builders.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) reap(t *testing.T) *reaper.Report {
	t.Helper()
	rep, err := f.Reap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// A lease that ran out: the builder is lost, the job requeued after its
// backoff — until it has lost too many builders (it fails). The builder is
// blamed unless the job has failed more builders than it has failed jobs.
func TestExpiredLeases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	j := f.submit(t, `{"script":"sleep 1000"}`)
	for round, b := range []string{"b1", "b2", "b3"} {
		f.register(t, b)
		f.claim(t, b)
		if rep := f.reap(t); rep.LeasesExpired != 0 {
			t.Fatalf("round %d: reaped a live lease", round)
		}
		f.now = f.now.Add(policy.Heartbeat*3 + time.Second) // past the lease
		rep := f.reap(t)
		if rep.LeasesExpired != 1 {
			t.Fatalf("round %d: report %+v", round, rep)
		}
		got := f.job(t, j.ID)
		if got.BuilderFailures != round+1 {
			t.Fatalf("round %d: job %+v", round, got)
		}
		if round < 2 && (got.Status != farm.StatusQueued || got.NotBefore == nil || !got.NotBefore.After(f.now)) {
			t.Fatalf("round %d: job %s, not before %v", round, got.Status, got.NotBefore)
		}
		// Blame goes to the side that fails more: from the second lost
		// builder on, the job has failed more builders than the builder
		// has failed jobs, and the builder's count is left alone.
		wantFailures := 0
		if round == 0 {
			wantFailures = 1
		}
		if bl := f.builder(t, b); bl.State != farm.BuilderLost || bl.ConsecutiveFailures != wantFailures || len(bl.CurrentJobs) != 0 {
			t.Fatalf("round %d: builder %+v", round, bl)
		}
		f.now = f.now.Add(time.Minute) // past the backoff
	}
	if got := f.job(t, j.ID); !got.Status.Terminal() {
		t.Fatalf("a job that lost 3 builders is %s", got.Status)
	}
}

// The same builder losing leases of different jobs is disabled.
func TestAFailingBuilderIsDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "flaky")
	disabled := 0
	for range 2 {
		f.submit(t, `{"script":"true"}`)
		f.claim(t, "flaky")
		f.now = f.now.Add(policy.Heartbeat*3 + time.Second) // past the lease
		disabled += f.reap(t).BuildersDisabled
		if _, err := f.claims.Heartbeat(ctx, "flaky", nil, false); err != nil {
			t.Fatal(err)
		}
	}
	if b := f.builder(t, "flaky"); !b.Disabled || b.ConsecutiveFailures != 2 || disabled != 1 {
		t.Fatalf("builder %+v (%d disabled)", b, disabled)
	}
}

// A job past its own timeout ends timed_out and frees its builder's slot;
// a builder silent for a lease is lost; a queue whose job waited too long
// is rung again; the pools' queues are measured.
func TestTimeoutsLostBuildersAndStaleQueues(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1")
	slow := f.submit(t, `{"script":"sleep 1000"}`)
	timeout := 5
	cur := f.job(t, slow.ID)
	next := cur.Touched()
	next.TimeoutSeconds = timeout
	if err := f.mem.Commit(ctx, storeTx(cur, next)); err != nil {
		t.Fatal(err)
	}
	f.claim(t, "b1")
	f.now = f.now.Add(6 * time.Second)
	if rep := f.reap(t); rep.TimedOut != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := f.job(t, slow.ID); got.Status != farm.StatusTimedOut {
		t.Fatalf("job %s", got.Status)
	}
	if b := f.builder(t, "b1"); len(b.CurrentJobs) != 0 {
		t.Fatalf("builder %+v", b)
	}
	waiting := f.submit(t, `{"script":"true"}`)
	f.bell.rings = nil
	f.now = f.now.Add(policy.Heartbeat * 3) // the builder went silent a lease ago; the job waited as long
	rep := f.reap(t)
	if rep.BuildersLost != 1 || len(rep.PoolsRung) != 1 || len(f.bell.rings) != 1 || len(rep.Pools) != 1 || rep.Pools[0].Queued != 1 || rep.Pools[0].OldestAgeSeconds != 30 {
		t.Fatalf("report %+v, rings %v", rep, f.bell.rings)
	}
	_ = waiting
}

// A lease timer that fires while the lease is still alive re-arms itself.
func TestReapJobRearms(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1")
	j := f.submit(t, `{"script":"true"}`)
	claimed := f.claim(t, "b1")
	if err := f.ReapJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if at, ok := f.timers.armed[j.ID]; !ok || !at.After(*claimed.LeaseExpiresAt) {
		t.Fatalf("timer %v for a lease to %v", at, claimed.LeaseExpiresAt)
	}
	f.now = f.now.Add(policy.Heartbeat*3 + time.Second) // past the lease
	if err := f.ReapJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.job(t, j.ID); got.Status != farm.StatusQueued {
		t.Fatalf("job %s after its timer", got.Status)
	}
}
