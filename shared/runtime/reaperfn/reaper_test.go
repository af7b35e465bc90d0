package reaperfn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/reaperfn"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("../../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sweeps counts the sweeps of the rules it wraps.
type sweeps struct {
	reaperfn.Reaping
	n atomic.Int32
}

func (s *sweeps) Sweep(ctx context.Context) (*reaper.Report, bool, error) {
	s.n.Add(1)
	return s.Reaping.Sweep(ctx)
}

// A scheduled invocation on an idle farm is one pass; with a job running
// it keeps sweeping the reap index until the job's lease is reaped (the
// builder went silent), then stops well before its window ends.
func TestScheduledPassesAndSweeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New()
	quiet := slog.New(slog.DiscardHandler)
	policy := farm.Policy{Heartbeat: 100 * time.Millisecond, RequeueBackoff: time.Millisecond}
	svc := wiring.NewServices(wiring.Deps{Store: mem, Pools: storetest.Pools, Policy: policy, Logger: quiet})
	if _, err := svc.Builders.Register(ctx, storetest.Admin, "b", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	rules := &sweeps{Reaping: svc.Reaper}
	const window = 10 * time.Second
	r := &reaperfn.Reaper{Rules: rules, Metrics: &metrics, Logger: quiet, Window: window, Every: 20 * time.Millisecond}

	// Idle: one pass, no sweep; it publishes queue metrics for every pool.
	out, err := r.HandleLambda(ctx, fixture(t, "eventbridge-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep := out.(*reaper.Report); len(rep.Pools) != len(storetest.Pools) || rep.Running || rules.n.Load() != 0 {
		t.Fatalf("idle pass %+v, %d sweeps", rep, rules.n.Load())
	}
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	if len(lines) != len(storetest.Pools) || !strings.Contains(metrics.String(), `"OldestQueuedJobAgeSeconds"`) || !strings.Contains(metrics.String(), `"Pool":"default","QueuedJobs":0`) {
		t.Fatalf("metrics:\n%s", metrics.String())
	}

	// A claimed job whose builder never beats: the invocation sweeps until
	// its lease is reaped, then returns.
	job := &farm.Job{ID: "01KAWZ6F0000000000000000R2", Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: json.RawMessage(`{"script":"true"}`),
		MaxAttempts: 3, TimeoutSeconds: 600, CreatedAt: time.Now(), Version: 1}
	if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: job}}}); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Claims.Claim(ctx, storetest.Admin, "b", "default")
	if err != nil || c == nil {
		t.Fatalf("claim: %v %v", c, err)
	}
	start := time.Now()
	out, err = r.HandleLambda(ctx, fixture(t, "eventbridge-schedule.json"))
	took := time.Since(start)
	if err != nil || !out.(*reaper.Report).Running {
		t.Fatalf("pass with a running job: %+v %v", out, err)
	}
	got, _ := mem.GetJob(ctx, job.ID)
	if got.Status != farm.StatusQueued || got.BuilderFailures != 1 || rules.n.Load() == 0 {
		t.Fatalf("job %s (builder failures %d) after %d sweeps", got.Status, got.BuilderFailures, rules.n.Load())
	}
	if took >= window {
		t.Fatalf("the invocation swept its whole window (%v) after the last job was reaped", took)
	}
	t.Logf("lease %v: requeued and returned after %v, %d sweeps", svc.Reaper.Lease(), took, rules.n.Load())
}
