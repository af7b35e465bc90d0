package followup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/followup"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

// bell records rings.
type bell struct {
	mu    sync.Mutex
	rings map[string][]time.Duration
}

func (b *bell) Ring(_ context.Context, _, jobID string, delay time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rings[jobID] = append(b.rings[jobID], delay)
	return nil
}

func (b *bell) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.rings[id])
}

type fixture struct {
	*followup.Service
	mem  *memstore.Store
	bell *bell
	n    int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mem: memstore.New(), bell: &bell{rings: map[string][]time.Duration{}}}
	f.Service = followup.New(followup.Options{Store: f.mem, Doorbell: f.bell, Clock: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler),
		Admission: admission.New(nil, farm.NewPools([]string{"default"}), farm.SourcePolicy{})})
	return f
}

// put stores a job as the jobs service would have (version 1, or the next).
func (f *fixture) put(t *testing.T, j *farm.Job) *farm.Job {
	t.Helper()
	if j.ID == "" {
		f.n++
		j.ID = farm.DerivedID(t0, fmt.Sprint("job-", f.n))
	}
	if j.Type == "" {
		j.Type, j.Pool, j.Payload = farm.TypeScript, "default", json.RawMessage(`{"script":"true"}`)
	}
	j.CreatedAt = t0
	prev, err := f.mem.GetJob(ctx, j.ID)
	if err != nil {
		prev = nil
		j.Version = 1
	} else {
		j.Version = prev.Version + 1
	}
	if err := f.mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: prev, Next: j}}}); err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) get(t *testing.T, id string) *farm.Job {
	t.Helper()
	j, err := f.mem.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A queued job's pool is rung once its delay is over. (The job is the one
// its writer just wrote: nothing is read back, and a job claimed meanwhile
// costs its pool one extra doorbell, which wakes a poller that finds
// nothing.)
func TestQueuedJobsAreRungWhileQueued(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	later := f.put(t, &farm.Job{Status: farm.StatusQueued, NotBefore: farm.TimePtr(t0.Add(5 * time.Second))})
	if err := f.FollowUp(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got := f.bell.rings[later.ID]; len(got) != 1 || got[0] != 5*time.Second {
		t.Fatalf("rings %v, want one after 5s", got)
	}
	running := f.put(t, &farm.Job{Status: farm.StatusRunning, Builder: "b"})
	if err := f.FollowUp(ctx, running); err != nil || f.bell.count(running.ID) != 0 {
		t.Fatalf("a running job was rung: %v", err)
	}
}

// A waiting job is released once every dependency succeeded, and fails
// (with its own dependents after it) once one ended otherwise.
func TestWaitingJobs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		deps []farm.JobStatus
		want farm.JobStatus
	}{
		{"all succeeded", []farm.JobStatus{farm.StatusSucceeded, farm.StatusSucceeded}, farm.StatusQueued},
		{"one still running", []farm.JobStatus{farm.StatusSucceeded, farm.StatusRunning}, farm.StatusWaiting},
		{"one failed", []farm.JobStatus{farm.StatusSucceeded, farm.StatusFailed}, farm.StatusFailed},
		{"one cancelled", []farm.JobStatus{farm.StatusCancelled}, farm.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var deps []string
			for _, st := range tc.deps {
				deps = append(deps, f.put(t, &farm.Job{Status: st}).ID)
			}
			// HasDependents: what its first dependent's registration marks.
			w := f.put(t, &farm.Job{Status: farm.StatusWaiting, DependsOn: deps, HasDependents: true})
			next := f.put(t, &farm.Job{Status: farm.StatusWaiting, DependsOn: []string{w.ID}})
			must(t, f.mem.Commit(ctx, store.Tx{Dependents: []store.DependentEdge{{JobID: w.ID, DependentID: next.ID}}}))
			must(t, f.EvaluateWaiting(ctx, w.ID))
			if got := f.get(t, w.ID); got.Status != tc.want {
				t.Fatalf("waiting job is %s, want %s", got.Status, tc.want)
			}
			if rung := f.bell.count(w.ID) == 1; rung != (tc.want == farm.StatusQueued) {
				t.Fatalf("rung %v for a job that is %s", rung, tc.want)
			}
			if wantNext := map[farm.JobStatus]farm.JobStatus{farm.StatusFailed: farm.StatusFailed}[tc.want]; wantNext != "" && f.get(t, next.ID).Status != wantNext {
				t.Fatalf("its dependent is %s, want %s", f.get(t, next.ID).Status, wantNext)
			}
		})
	}
	// A job that is gone, or not waiting, is left alone.
	f := newFixture(t)
	must(t, f.EvaluateWaiting(ctx, farm.NewID(t0)))
	q := f.put(t, &farm.Job{Status: farm.StatusQueued})
	must(t, f.EvaluateWaiting(ctx, q.ID))
	if got := f.get(t, q.ID); got.Version != q.Version {
		t.Fatal("a queued job was rewritten")
	}
}

// A succeeded job's follow-on jobs are created once however many times its
// state is followed up (a stream batch delivered again carries the same
// image), queued and rung, with its parent marked.
func TestFollowOnsAreCreatedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	parent := f.put(t, &farm.Job{Status: farm.StatusSucceeded, FinishedAt: farm.TimePtr(t0), RequestedBy: "submitter:a", Type: farm.TypeScript, Pool: "default",
		Payload: json.RawMessage(`{"script":"build","then":[{"type":"script","payload":{"script":"test"}},{"type":"script","payload":{"script":"ship"},"priority":5}]}`)})
	for range 2 {
		must(t, f.FollowUp(ctx, parent))
	}
	page, err := f.mem.ListJobs(ctx, store.JobFilter{Status: farm.StatusQueued})
	must(t, err)
	if len(page.Jobs) != 2 {
		t.Fatalf("%d follow-on jobs, want 2", len(page.Jobs))
	}
	for _, c := range page.Jobs {
		if c.ParentID != parent.ID || c.RequestedBy != "submitter:a" || f.bell.count(c.ID) < 1 {
			t.Fatalf("follow-on %+v rung %d times", c, f.bell.count(c.ID))
		}
	}
	if !f.get(t, parent.ID).FollowOnsCreated {
		t.Fatal("parent not marked")
	}
}

// A clean-resource job moves its resource: cleaning while it runs, free
// when it succeeded, dirty and retried when it failed, flagged for an admin
// after farm.MaxCleanFailures failures.
func TestCleanJobsSettleTheirResource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	payload, _ := json.Marshal(farm.CleanResourceArgs{ResourcePool: "ppas", Resource: "r1", CleanScript: "true"})
	clean := f.put(t, &farm.Job{Type: farm.TypeCleanResource, Pool: "default", Payload: payload, Status: farm.StatusQueued, MaxAttempts: 3})
	r := &farm.Resource{Pool: "ppas", Name: "r1", State: farm.ResourceDirty, CleanJobID: clean.ID, UpdatedAt: t0, Version: 1}
	must(t, f.mem.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Next: r}}}))
	state := func() *farm.Resource {
		got, err := f.mem.GetResource(ctx, "ppas", "r1")
		must(t, err)
		return got
	}
	settle := func(status farm.JobStatus) {
		t.Helper()
		j := f.get(t, clean.ID).Clone()
		j.Status, j.Error = status, "disk full"
		must(t, f.FollowUp(ctx, f.put(t, j)))
	}
	settle(farm.StatusRunning)
	if got := state(); got.State != farm.ResourceCleaning {
		t.Fatalf("running clean job: resource %s", got.State)
	}
	for i := 1; i < farm.MaxCleanFailures; i++ {
		settle(farm.StatusFailed)
		if got := state(); got.State != farm.ResourceDirty || got.CleanFailures != i || got.Flagged != "" || f.get(t, clean.ID).Status != farm.StatusQueued {
			t.Fatalf("failure %d: resource %+v, job %s", i, got, f.get(t, clean.ID).Status)
		}
	}
	settle(farm.StatusFailed)
	if got := state(); got.CleanFailures != farm.MaxCleanFailures || got.Flagged == "" || f.get(t, clean.ID).Status != farm.StatusFailed {
		t.Fatalf("last failure: resource %+v, job %s", got, f.get(t, clean.ID).Status)
	}
	settle(farm.StatusSucceeded)
	if got := state(); got.State != farm.ResourceFree || got.CleanJobID != "" || got.CleanFailures != 0 || got.Flagged != "" {
		t.Fatalf("cleaned: resource %+v", got)
	}
	// A stale clean job (not the resource's) changes nothing.
	other := f.put(t, &farm.Job{Type: farm.TypeCleanResource, Pool: "default", Payload: payload, Status: farm.StatusFailed})
	before := state()
	must(t, f.SettleClean(ctx, other))
	if state().Version != before.Version {
		t.Fatal("a stale clean job moved the resource")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
