package fleet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func pool(min, max, slots int) PoolConfig {
	return PoolConfig{Pool: "default", Group: "g", Min: min, Max: max, Slots: slots, IdleSeconds: 600, BootSeconds: 900}
}

func instances(ids ...string) []Instance {
	out := make([]Instance, 0, len(ids))
	for _, id := range ids {
		out = append(out, Instance{ID: id, Lifecycle: InService, Protected: true})
	}
	return out
}

func removals(rs []Removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestDecide(t *testing.T) {
	t.Parallel()
	longIdle := map[string]Mark{"i-1": {FirstSeen: t0.Add(-time.Hour), IdleSince: t0.Add(-time.Hour)}, "i-2": {FirstSeen: t0.Add(-time.Hour), IdleSince: t0.Add(-20 * time.Minute)}}
	cases := []struct {
		name         string
		cfg          PoolConfig
		obs          Observation
		desired      int
		drain        []string
		undrain      []string
		terminate    []string
		need, target int
	}{
		{name: "idle at min 0 costs nothing", cfg: pool(0, 10, 2), desired: 0},
		{name: "queue over slots, rounded up", cfg: pool(0, 10, 2), obs: Observation{Demand: Demand{Queued: 5}}, desired: 3, need: 3, target: 3},
		{name: "running jobs count too", cfg: pool(0, 10, 4), obs: Observation{Demand: Demand{Queued: 1, Running: 4}}, desired: 2, need: 2, target: 2},
		{name: "capped by max however long the queue", cfg: pool(0, 3, 1), obs: Observation{Demand: Demand{Queued: 500}}, desired: 3, need: 500, target: 3},
		{name: "floored by min", cfg: pool(2, 5, 1), desired: 2, target: 2},
		{name: "booting instances count as capacity", cfg: pool(0, 10, 1),
			obs:     Observation{Demand: Demand{Queued: 2}, Group: Group{Instances: []Instance{{ID: "i-1", Lifecycle: Pending}, {ID: "i-2", Lifecycle: InService}}}},
			desired: 2, need: 2, target: 2},
		{name: "leaving instances are not capacity", cfg: pool(0, 10, 1),
			obs:     Observation{Demand: Demand{Queued: 2}, Group: Group{Instances: []Instance{{ID: "i-1", Lifecycle: Leaving}}}},
			desired: 2, need: 2, target: 2},
		{name: "drain only builders idle past the idle time, longest first", cfg: pool(0, 10, 1),
			obs: Observation{Group: Group{Instances: instances("i-1", "i-2", "i-3")},
				Builders: map[string]Builder{"i-1": {Name: "i-1"}, "i-2": {Name: "i-2"}, "i-3": {Name: "i-3"}},
				Marks:    map[string]Mark{"i-1": longIdle["i-1"], "i-2": longIdle["i-2"], "i-3": {FirstSeen: t0.Add(-time.Hour), IdleSince: t0.Add(-time.Minute)}}},
			desired: 3, drain: []string{"i-1", "i-2"}},
		{name: "drain no more than the excess over min", cfg: pool(1, 10, 1),
			obs: Observation{Group: Group{Instances: instances("i-1", "i-2")},
				Builders: map[string]Builder{"i-1": {Name: "i-1"}, "i-2": {Name: "i-2"}}, Marks: longIdle},
			desired: 2, drain: []string{"i-1"}, target: 1},
		{name: "a busy builder is never drained", cfg: pool(0, 10, 1),
			obs: Observation{Demand: Demand{Running: 1}, Group: Group{Instances: instances("i-1", "i-2")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", Jobs: 1}, "i-2": {Name: "i-2"}}, Marks: longIdle},
			desired: 2, drain: []string{"i-2"}, need: 1, target: 1},
		{name: "a builder that ran a job between looks is not idle", cfg: pool(0, 10, 1),
			obs: Observation{Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", JobsCompleted: 3}},
				Marks:    map[string]Mark{"i-1": {FirstSeen: t0.Add(-time.Hour), IdleSince: t0.Add(-time.Hour), Completed: 2}}},
			desired: 1},
		{name: "drained and idle past the grace: removed", cfg: pool(0, 10, 1),
			obs: Observation{Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", DrainRequested: true, DrainRequestedAt: t0.Add(-time.Minute)}}},
			desired: 0, terminate: []string{"i-1"}},
		{name: "drained within the grace: kept", cfg: pool(0, 10, 1),
			obs: Observation{Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", DrainRequested: true, DrainRequestedAt: t0.Add(-time.Second)}}},
			desired: 1},
		{name: "drained but busy: kept", cfg: pool(0, 10, 1),
			obs: Observation{Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", Jobs: 1, DrainRequested: true, DrainRequestedAt: t0.Add(-time.Hour)}}},
			desired: 1},
		{name: "work came back: lift the drain rather than launch", cfg: pool(0, 10, 1),
			obs: Observation{Demand: Demand{Queued: 2}, Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", DrainRequested: true, DrainRequestedAt: t0.Add(-time.Hour)}}},
			desired: 2, undrain: []string{"i-1"}, need: 2, target: 2},
		{name: "self-drained and idle (ephemeral done, spot notice): removed and replaced", cfg: pool(0, 10, 1),
			obs: Observation{Demand: Demand{Queued: 1}, Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", Draining: true, JobsCompleted: 1}}},
			desired: 1, terminate: []string{"i-1"}, need: 1, target: 1},
		{name: "self-drained and busy (ephemeral running its job): not capacity, kept", cfg: pool(0, 10, 1),
			obs: Observation{Demand: Demand{Queued: 1, Running: 1}, Group: Group{Instances: instances("i-1")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", Jobs: 1, Draining: true}}},
			desired: 2, need: 1, target: 1},
		{name: "never registered within boot time: removed", cfg: pool(0, 10, 1),
			obs:     Observation{Group: Group{Instances: instances("i-1")}, Marks: map[string]Mark{"i-1": {FirstSeen: t0.Add(-time.Hour)}}},
			desired: 0, terminate: []string{"i-1"}},
		{name: "at max with busy drained instances: no more", cfg: pool(0, 2, 1),
			obs: Observation{Demand: Demand{Queued: 5, Running: 2}, Group: Group{Instances: instances("i-1", "i-2")},
				Builders: map[string]Builder{"i-1": {Name: "i-1", Jobs: 1, Draining: true}, "i-2": {Name: "i-2", Jobs: 1, Draining: true}}},
			desired: 2, need: 5, target: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.cfg, c.obs, t0)
			if d.Desired != c.desired || !slices.Equal(d.Drain, c.drain) || !slices.Equal(d.Undrain, c.undrain) || !slices.Equal(removals(d.Terminate), c.terminate) {
				t.Fatalf("desired %d drain %v undrain %v terminate %v; want %d %v %v %v\n%s", d.Desired, d.Drain, d.Undrain, removals(d.Terminate), c.desired, c.drain, c.undrain, c.terminate, d.Reason)
			}
			if d.Need != c.need || d.Target != c.target {
				t.Fatalf("need %d target %d, want %d %d", d.Need, d.Target, c.need, c.target)
			}
		})
	}
}

func TestMarksFollowIdleness(t *testing.T) {
	t.Parallel()
	cfg := pool(0, 5, 1)
	obs := Observation{Group: Group{Instances: instances("i-1")}, Builders: map[string]Builder{"i-1": {Name: "i-1", Jobs: 1}}}
	d := Decide(cfg, obs, t0)
	if m := d.Marks["i-1"]; !m.FirstSeen.Equal(t0) || !m.IdleSince.IsZero() {
		t.Fatalf("busy mark %+v", m)
	}
	obs.Marks, obs.Builders = d.Marks, map[string]Builder{"i-1": {Name: "i-1", JobsCompleted: 1}}
	d = Decide(cfg, obs, t0.Add(time.Minute))
	if m := d.Marks["i-1"]; !m.IdleSince.Equal(t0.Add(time.Minute)) || m.Completed != 1 || !m.FirstSeen.Equal(t0) {
		t.Fatalf("idle mark %+v", m)
	}
	obs.Marks = d.Marks
	d = Decide(cfg, obs, t0.Add(11*time.Minute))
	if !slices.Equal(d.Drain, []string{"i-1"}) {
		t.Fatalf("after 10 idle minutes: drain %v (%s)", d.Drain, d.Reason)
	}
	// Gone instances leave no marks behind.
	obs.Group.Instances = nil
	if d := Decide(cfg, obs, t0.Add(12*time.Minute)); len(d.Marks) != 0 {
		t.Fatalf("marks of gone instances kept: %v", d.Marks)
	}
}

// TestDecideInvariants checks the policy's promises over random
// observations: desired never above max (nor below min unless max says
// so), no busy builder drained or removed, drains only of serving idle
// builders and never more than serve beyond the target.
func TestDecideInvariants(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		lo := rapid.IntRange(0, 4).Draw(t, "min")
		cfg := PoolConfig{Pool: "p", Group: "g", Min: lo, Max: rapid.IntRange(max(lo, 1), 8).Draw(t, "max"), Slots: rapid.IntRange(1, 4).Draw(t, "slots"), IdleSeconds: 60, BootSeconds: 300}
		obs := Observation{Demand: Demand{Queued: rapid.IntRange(0, 40).Draw(t, "queued"), Running: rapid.IntRange(0, 20).Draw(t, "running")},
			Builders: map[string]Builder{}, Marks: map[string]Mark{}}
		n := rapid.IntRange(0, 12).Draw(t, "instances")
		for i := range n {
			id := fmt.Sprintf("i-%02d", i)
			obs.Group.Instances = append(obs.Group.Instances, Instance{ID: id, Lifecycle: rapid.SampledFrom([]Lifecycle{Pending, InService, InService, Leaving}).Draw(t, "life")})
			if rapid.Bool().Draw(t, "seen") {
				obs.Marks[id] = Mark{FirstSeen: t0.Add(-time.Duration(rapid.IntRange(0, 600).Draw(t, "age")) * time.Second),
					IdleSince: t0.Add(-time.Duration(rapid.IntRange(0, 600).Draw(t, "idle")) * time.Second)}
			}
			if rapid.IntRange(0, 4).Draw(t, "registered") > 0 {
				obs.Builders[id] = Builder{Name: id, Jobs: rapid.IntRange(0, cfg.Slots).Draw(t, "jobs"), Draining: rapid.IntRange(0, 5).Draw(t, "draining") == 0,
					DrainRequested: rapid.IntRange(0, 3).Draw(t, "requested") == 0, DrainRequestedAt: t0.Add(-time.Duration(rapid.IntRange(0, 120).Draw(t, "drained")) * time.Second)}
			}
		}
		d := Decide(cfg, obs, t0)
		if d.Desired > cfg.Max || d.Desired < 0 {
			t.Fatalf("desired %d outside 0..max %d (%s)", d.Desired, cfg.Max, d.Reason)
		}
		if d.Desired < cfg.Min {
			t.Fatalf("desired %d below min %d (%s)", d.Desired, cfg.Min, d.Reason)
		}
		for _, r := range d.Terminate {
			if obs.Builders[r.ID].Busy() {
				t.Fatalf("removes busy %s: %s", r.ID, r.Why)
			}
		}
		for _, id := range d.Drain {
			b, ok := obs.Builders[id]
			if !ok || b.Busy() || b.Draining || b.DrainRequested {
				t.Fatalf("drains %s (%+v)", id, b)
			}
		}
		if excess := d.Serving - d.Target; len(d.Drain) > max(excess, 0) {
			t.Fatalf("drains %d, but only %d serve beyond the target (%s)", len(d.Drain), excess, d.Reason)
		}
	})
}
