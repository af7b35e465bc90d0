package scalerfn_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/runtime/scalerfn"
	"github.com/buildfarm/buildfarm/shared/testkit/scalertest"
)

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHandleLambda: a jobs-stream batch ticks the pools its queued jobs
// name (and a second burst within the minimum interval is skipped); the
// schedule ticks every elastic pool.
func TestHandleLambda(t *testing.T) {
	t.Parallel()
	cfg := fleet.PoolConfig{Pool: "default", Group: "g-default", Min: 0, Max: 4, Slots: 2}
	f := scalertest.NewSimFarm(memstore.New(), scalertest.NewFakeGroups(cfg.Group, 0, 4), cfg)
	arm := fleet.PoolConfig{Pool: "arm64", Group: "g-arm64", Min: 1, Max: 2, Slots: 1}
	f.Scaler.Fleet.Pools = append(f.Scaler.Fleet.Pools, arm)
	armGroups := scalertest.NewFakeGroups(arm.Group, 1, 2)
	f.Scaler.Groups = scalertest.RouteGroups{cfg.Group: f.Groups, arm.Group: armGroups}
	f.Submit(3)
	ctx := context.Background()
	h := &scalerfn.Handler{Scaler: f.Scaler}

	out, err := h.HandleLambda(ctx, fixture(t, "dynamodb-stream-jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := out.(map[string]any)
	if len(got) != 1 || got["default"].(map[string]any)["desired"] != 2 {
		t.Fatalf("burst answer %v, want pool default at desired 2 (3 jobs, 2 slots)", got)
	}
	if d, _ := f.Groups.Describe(ctx, cfg.Group); d.Desired != 2 {
		t.Fatalf("default group desired %d after a burst, want 2", d.Desired)
	}
	f.Clock.Advance(time.Second)
	out, _ = h.HandleLambda(ctx, fixture(t, "dynamodb-stream-jobs.json"))
	if s, ok := out.(map[string]any)["default"].(map[string]any)["skipped"]; !ok {
		t.Fatalf("second burst within the interval: %v, want skipped (%v)", out, s)
	}
	out, err = h.HandleLambda(ctx, fixture(t, "eventbridge-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.(map[string]any)) != 2 {
		t.Fatalf("schedule ticked %v, want both pools", out)
	}
	if d, _ := armGroups.Describe(ctx, arm.Group); d.Desired != 1 {
		t.Fatalf("arm64 desired %d, want its min 1", d.Desired)
	}
}
