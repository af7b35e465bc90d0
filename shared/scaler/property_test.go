package scaler_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/buildfarm/buildfarm/shared/fleet"
	"github.com/buildfarm/buildfarm/shared/memstore"
	"github.com/buildfarm/buildfarm/shared/scaler"
)

// timeline runs a random timeline of submits, claims, completions, builder
// deaths, time passing and scaler runs — some of them overlapping, their
// observations interleaved — on f, checking after every step that the
// group never went above max and that no instance was removed while its
// builder held a job.
func timeline(t *rapid.T, f *simFarm, steps int) {
	for i := range steps {
		switch op := rapid.IntRange(0, 9).Draw(t, "op"); op {
		case 0, 1:
			f.submit(rapid.IntRange(1, 6).Draw(t, "submit"))
		case 2:
			f.boot(rapid.IntRange(0, 3).Draw(t, "boot"))
			f.claim()
		case 3:
			f.complete(rapid.IntRange(1, 4).Draw(t, "complete"))
		case 4:
			f.kill(rapid.IntRange(0, 7).Draw(t, "kill"))
		case 5:
			f.advance(time.Duration(rapid.IntRange(1, 600).Draw(t, "seconds")) * time.Second)
		case 6:
			if _, err := f.scaler.TickPool(f.ctx, f.cfg.Pool, scaler.TriggerSchedule); err != nil {
				t.Fatalf("step %d: tick: %v", i, err)
			}
		case 7, 9:
			f.overlap(rapid.IntRange(0, 15).Draw(t, "moves"))
		case 8:
			f.boot(rapid.IntRange(0, 3).Draw(t, "boot"))
		}
		if v := f.groups.violated(); len(v) > 0 {
			t.Fatalf("step %d: %v", i, v)
		}
		if d, _ := f.groups.Describe(f.ctx, f.cfg.Group); d.Desired > f.cfg.Max {
			t.Fatalf("step %d: desired %d above max %d", i, d.Desired, f.cfg.Max)
		}
	}
}

// TestFleetInvariantsInMemory: the pure policy, the scaler's fences and the
// farm's scheduler over the in-memory store, against an in-memory group
// that (like moto) would take any desired capacity.
func TestFleetInvariantsInMemory(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		lo := rapid.IntRange(0, 2).Draw(t, "min")
		cfg := fleet.PoolConfig{Pool: "default", Group: "g-default", Min: lo, Max: rapid.IntRange(max(lo, 1), 5).Draw(t, "max"),
			Slots: rapid.IntRange(1, 3).Draw(t, "slots"), IdleSeconds: rapid.IntRange(30, 300).Draw(t, "idle"), BootSeconds: rapid.IntRange(60, 600).Draw(t, "boot")}
		f := newSimFarm(memstore.New(), newFakeGroups(cfg.Group, cfg.Min, cfg.Max), cfg)
		timeline(t, f, rapid.IntRange(20, 80).Draw(t, "steps"))
	})
}
