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

type fixture struct {
	*reaper.Service
	mem       *memstore.Store
	now       time.Time
	jobs      *jobs.Service
	claims    *claims.Service
	builders  *builders.Service
	resources *resources.Service
	bell      *bell
}

// policy: 10 s heartbeats, 30 s leases, requeues after 1 s, a builder
// disabled after 2 failures in a row, a job failed after 3 lost builders.
var policy = farm.Policy{Heartbeat: 10 * time.Second, RequeueBackoff: time.Second, BuilderMaxFailures: 2, JobMaxBuilderFailures: 3}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mem: memstore.New(), now: t0, bell: &bell{}}
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
		Pools: pools, Policy: policy, Clock: clock, Logger: quiet})
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

// Sweeps between passes: a job's reap_at trails its lease, moved by
// heartbeats only once it is within half a lease; a sweep before the lease
// ends leaves the job alone, the first after it requeues the job; a sweep
// says whether jobs still run (the reaper Lambda loops while they do).
func TestSweepFollowsTheReapIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1")
	j := f.submit(t, `{"script":"true"}`)
	claimed := f.claim(t, "b1")
	lease := policy.Heartbeat * 3
	if claimed.ReapAt == nil || !claimed.ReapAt.Equal(*claimed.LeaseExpiresAt) {
		t.Fatalf("claimed: reap_at %v, lease to %v", claimed.ReapAt, claimed.LeaseExpiresAt)
	}
	beat := func() *farm.Job {
		t.Helper()
		if _, err := f.claims.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: claimed.ClaimToken}}, false); err != nil {
			t.Fatal(err)
		}
		return f.job(t, j.ID)
	}
	// Heartbeats every 10 s: the lease is renewed by each, reap_at only
	// when it is within half a lease (every other beat).
	moved := 0
	reapAt := *claimed.ReapAt
	for range 6 {
		f.now = f.now.Add(policy.Heartbeat)
		got := beat()
		if !got.LeaseExpiresAt.Equal(f.now.Add(lease)) || got.ReapAt.After(*got.LeaseExpiresAt) || got.ReapAt.Sub(f.now) < lease/2-policy.Heartbeat {
			t.Fatalf("after a beat at %v: lease to %v, reap_at %v", f.now, got.LeaseExpiresAt, got.ReapAt)
		}
		if !got.ReapAt.Equal(reapAt) {
			moved++
			reapAt = *got.ReapAt
		}
	}
	if moved != 3 {
		t.Fatalf("reap_at moved by %d of 6 heartbeats, want 3", moved)
	}
	// The builder goes silent. Sweeps before its lease ends change nothing
	// (reap_at may pass first: the job is looked at and left).
	last := *f.job(t, j.ID).LeaseExpiresAt
	for f.now.Before(last.Add(-time.Second)) {
		f.now = f.now.Add(5 * time.Second)
		if f.now.After(last) {
			break
		}
		rep, running, err := f.Sweep(ctx)
		if err != nil || !running || rep.LeasesExpired != 0 {
			t.Fatalf("sweep at %v (lease to %v): %+v running=%v %v", f.now, last, rep, running, err)
		}
	}
	f.now = last.Add(time.Millisecond)
	rep, running, err := f.Sweep(ctx)
	if err != nil || running || rep.LeasesExpired != 1 {
		t.Fatalf("sweep after the lease: %+v running=%v %v", rep, running, err)
	}
	if got := f.job(t, j.ID); got.Status != farm.StatusQueued || got.ReapAt != nil {
		t.Fatalf("job %s (reap_at %v) after its lease", got.Status, got.ReapAt)
	}
}

// A job's deadline caps its reap_at: the sweep that finds it times it out.
func TestSweepTimesOutAtTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1")
	slow := f.submit(t, `{"script":"sleep 1000"}`)
	cur := f.job(t, slow.ID)
	next := cur.Touched()
	next.TimeoutSeconds = 5
	if err := f.mem.Commit(ctx, storeTx(cur, next)); err != nil {
		t.Fatal(err)
	}
	claimed := f.claim(t, "b1")
	if d, _ := claimed.Deadline(); !claimed.ReapAt.Equal(d) {
		t.Fatalf("reap_at %v, deadline %v", claimed.ReapAt, d)
	}
	f.now = f.now.Add(6 * time.Second)
	if rep, _, err := f.Sweep(ctx); err != nil || rep.TimedOut != 1 {
		t.Fatalf("sweep past the deadline: %+v %v", rep, err)
	}
}
