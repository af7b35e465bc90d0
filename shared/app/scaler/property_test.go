package scaler_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/testkit/scalertest"
)

// TestFleetInvariantsInMemory: the pure policy, the scaler's fences and the
// farm's scheduler over the in-memory store, against an in-memory group
// that (like moto) would take any desired capacity.
func TestFleetInvariantsInMemory(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		lo := rapid.IntRange(0, 2).Draw(t, "min")
		cfg := fleet.PoolConfig{Pool: "default", Group: "g-default", Min: lo, Max: rapid.IntRange(max(lo, 1), 5).Draw(t, "max"),
			Slots: rapid.IntRange(1, 3).Draw(t, "slots"), IdleSeconds: rapid.IntRange(30, 300).Draw(t, "idle"), BootSeconds: rapid.IntRange(60, 600).Draw(t, "boot")}
		f := scalertest.NewSimFarm(memstore.New(), scalertest.NewFakeGroups(cfg.Group, cfg.Min, cfg.Max), cfg)
		scalertest.Timeline(t, f, rapid.IntRange(20, 80).Draw(t, "steps"))
	})
}
