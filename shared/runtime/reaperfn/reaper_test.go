package reaperfn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/reaperfn"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

type timers struct{ armed map[string]time.Time }

func (t *timers) Arm(_ context.Context, id string, at time.Time) error {
	t.armed[id] = at
	return nil
}

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("../../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestLeaseTimersAndScheduledPasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := storetest.NewClock()
	mem := memstore.New()
	tm := &timers{armed: map[string]time.Time{}}
	quiet := slog.New(slog.DiscardHandler)
	svc := wiring.NewServices(wiring.Deps{Store: mem, Pools: storetest.Pools, Clock: clock.Now, LeaseTimer: tm, Logger: quiet})
	if _, err := svc.Builders.Register(ctx, storetest.Admin, "b", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	// The fixture's job id.
	const id = "01KAWZ6F0000000000000000R2"
	job := &farm.Job{ID: id, Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", Payload: json.RawMessage(`{"script":"true"}`), MaxAttempts: 3, TimeoutSeconds: 600, CreatedAt: clock.Now(), Version: 1}
	if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: job}}}); err != nil {
		t.Fatal(err)
	}
	c, err := svc.Claims.Claim(ctx, storetest.Admin, "b", "default")
	if err != nil || c == nil {
		t.Fatalf("claim: %v %v", c, err)
	}
	claimed := c.Job
	if at, ok := tm.armed[id]; !ok || !at.After(*claimed.LeaseExpiresAt) {
		t.Fatalf("lease timer armed at %v for a lease ending %v", at, claimed.LeaseExpiresAt)
	}
	var metrics bytes.Buffer
	r := &reaperfn.Reaper{Rules: svc.Reaper, Metrics: &metrics, Logger: quiet, Clock: clock.Now}

	// The timer fires early (a heartbeat renewed the lease): nothing happens, the timer is re-armed.
	clock.Advance(20 * time.Second)
	if _, err := svc.Claims.Heartbeat(ctx, "b", []claims.HeartbeatJob{{ID: id, ClaimToken: claimed.ClaimToken}}, false); err != nil {
		t.Fatal(err)
	}
	delete(tm.armed, id)
	out, err := r.HandleLambda(ctx, fixture(t, "sqs-lease-timer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp := mustSQSResponse(t, out); len(resp) != 0 {
		t.Fatalf("failures %v", resp)
	}
	if got, _ := mem.GetJob(ctx, id); got.Status != farm.StatusRunning {
		t.Fatalf("job %s after an early timer", got.Status)
	}
	if _, ok := tm.armed[id]; !ok {
		t.Fatal("timer not re-armed for the renewed lease")
	}
	// The builder goes silent; the next timer finds the lease expired.
	clock.Advance(31 * time.Second)
	if _, err := r.HandleLambda(ctx, fixture(t, "sqs-lease-timer.json")); err != nil {
		t.Fatal(err)
	}
	if got, _ := mem.GetJob(ctx, id); got.Status != farm.StatusQueued || got.BuilderFailures != 1 {
		t.Fatalf("job %s (builder failures %d) after its lease expired", got.Status, got.BuilderFailures)
	}

	// A scheduled pass publishes queue metrics for every pool.
	clock.Advance(time.Minute)
	out, err = r.HandleLambda(ctx, fixture(t, "eventbridge-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep := out.(*reaper.Report)
	if len(rep.Pools) != len(storetest.Pools) {
		t.Fatalf("report %+v", rep)
	}
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	if len(lines) != len(storetest.Pools) || !strings.Contains(metrics.String(), `"OldestQueuedJobAgeSeconds"`) || !strings.Contains(metrics.String(), `"Pool":"default","QueuedJobs":1`) {
		t.Fatalf("metrics:\n%s", metrics.String())
	}
}

func mustSQSResponse(t *testing.T, out any) []string {
	t.Helper()
	b, _ := json.Marshal(out)
	var resp struct {
		BatchItemFailures []struct{ ItemIdentifier string } `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}
