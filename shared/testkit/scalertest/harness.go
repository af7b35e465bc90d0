// Package scalertest drives the scaler through simulated timelines: the
// farm's scheduler over a store, one simulated agent per instance of a
// group, scaler runs (some overlapping), and a guard on the group that
// records every breach of the fleet's promises (never above max, never
// removing an instance whose builder holds a job). The in-memory property
// test and the emulator's use it.
package scalertest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/scaler"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// guard wraps a pool's groups and records every breach of the fleet's two
// promises as it happens: a desired capacity above max, and the removal of
// an instance whose builder holds a job — by the farm's record or by what
// its (simulated) agent is running.
type Guard struct {
	scaler.Groups
	Max int
	// Busy says why removing an instance would break a promise ("" if not).
	Busy func(id string) string

	mu         sync.Mutex
	violations []string
	removed    []string
}

func (g *Guard) SetDesired(ctx context.Context, group string, n int) error {
	if n > g.Max {
		g.note(fmt.Sprintf("desired %d above max %d", n, g.Max))
	}
	return g.Groups.SetDesired(ctx, group, n)
}

func (g *Guard) Remove(ctx context.Context, group, id string, decrement bool) error {
	if why := g.Busy(id); why != "" {
		g.note("removed " + id + " whose builder " + why)
	}
	g.mu.Lock()
	g.removed = append(g.removed, id)
	g.mu.Unlock()
	return g.Groups.Remove(ctx, group, id, decrement)
}

func (g *Guard) note(v string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.violations = append(g.violations, v)
}

// Removed lists the instances removed so far.
func (g *Guard) Removed() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.removed)
}

// Violated lists the breaches recorded so far.
func (g *Guard) Violated() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.violations)
}

// simAgent is a builder agent reduced to its promises: it registers,
// claims while it has free slots, heartbeats, completes what it holds,
// and can die (holding nothing from then on; the farm learns by leases).
type simAgent struct {
	name       string
	registered bool
	dead       bool
	jobs       map[string]string // job id -> claim token
}

// SimFarm is the farm's services over a store, the scaler over a guarded
// group, and one simulated agent per instance.
type SimFarm struct {
	Ctx    context.Context
	Store  scaler.Store
	Svc    *wiring.Services
	Clock  *storetest.Clock
	Cfg    fleet.PoolConfig
	Groups *Guard
	Scaler *scaler.Scaler
	Agents map[string]*simAgent
	seq    int
}

func NewSimFarm(st interface {
	store.Store
	scaler.Store
}, groups scaler.Groups, cfg fleet.PoolConfig) *SimFarm {
	clock := storetest.NewClock()
	quiet := slog.New(slog.DiscardHandler)
	svc := wiring.NewServices(wiring.Deps{Store: st, Pools: storetest.Pools, Clock: clock.Now, Logger: quiet,
		Policy: farm.Policy{Heartbeat: 10 * time.Second}})
	f := &SimFarm{Ctx: context.Background(), Store: st, Svc: svc, Clock: clock, Cfg: cfg, Agents: map[string]*simAgent{}}
	f.Groups = &Guard{Groups: groups, Max: cfg.Max, Busy: f.busy}
	f.Scaler = &scaler.Scaler{Fleet: fleet.Config{Pools: []fleet.PoolConfig{cfg}}, Store: st, Drainer: svc.Builders, Groups: f.Groups, Clock: clock.Now, Logger: quiet}
	return f
}

// busy says why removing instance id would break a promise ("" if not).
func (f *SimFarm) busy(id string) string {
	if a := f.Agents[id]; a != nil && len(a.jobs) > 0 {
		return fmt.Sprintf("runs %d jobs", len(a.jobs))
	}
	if held, err := f.Store.ActiveJobs(f.Ctx, id, 0); err == nil && len(held) > 0 {
		return fmt.Sprintf("holds %d jobs on the farm", len(held))
	}
	return ""
}

func (f *SimFarm) Alive() []string {
	g, err := f.Groups.Describe(f.Ctx, f.Cfg.Group)
	if err != nil {
		panic(err)
	}
	var out []string
	for _, in := range g.Instances {
		if in.Alive() {
			out = append(out, in.ID)
		}
	}
	sort.Strings(out)
	return out
}

func (f *SimFarm) Submit(n int) {
	for range n {
		f.seq++
		payload := fmt.Sprintf(`{"script":"echo %d","pool":%q}`, f.seq, f.Cfg.Pool)
		if _, _, err := f.Svc.Jobs.Submit(f.Ctx, admission.Request{Type: farm.TypeScript, Payload: []byte(payload), RequestedBy: "submitter:sim"}); err != nil {
			panic(err)
		}
	}
}

// boot registers the agents of up to n instances that have none yet.
func (f *SimFarm) Boot(n int) {
	for _, id := range f.Alive() {
		if f.Agents[id] != nil {
			continue
		}
		if n == 0 {
			return
		}
		n--
		a := &simAgent{name: id, jobs: map[string]string{}}
		f.Agents[id] = a
		if _, err := f.Svc.Builders.Register(f.Ctx, storetest.Admin, id, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "arm64", Pools: []string{f.Cfg.Pool}, Slots: f.Cfg.Slots}); err != nil {
			panic(err)
		}
		a.registered = true
	}
}

// live lists the agents of alive instances that are running.
func (f *SimFarm) Live() []*simAgent {
	var out []*simAgent
	for _, id := range f.Alive() {
		if a := f.Agents[id]; a != nil && a.registered && !a.dead {
			out = append(out, a)
		}
	}
	return out
}

// claim has every live agent claim while it has free slots.
func (f *SimFarm) Claim() {
	for _, a := range f.Live() {
		for len(a.jobs) < f.Cfg.Slots {
			// As the agent does: it says how many jobs it holds.
			c, err := f.Svc.Claims.ClaimFor(f.Ctx, storetest.Admin, a.name, f.Cfg.Pool, len(a.jobs))
			if err != nil || c == nil {
				break
			}
			a.jobs[c.Job.ID] = c.Job.ClaimToken
		}
	}
}

// complete finishes up to n held jobs, in a stable order.
func (f *SimFarm) Complete(n int) {
	for _, a := range f.Live() {
		ids := make([]string, 0, len(a.jobs))
		for id := range a.jobs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if n == 0 {
				return
			}
			_, _ = f.Svc.Claims.Record(f.Ctx, a.name, id, farm.Completion{ClaimToken: a.jobs[id], Result: farm.StatusSucceeded})
			delete(a.jobs, id)
			n--
		}
	}
}

// kill stops the agent of the i-th alive instance: what it ran is lost
// with it; the farm finds out when its leases expire.
func (f *SimFarm) Kill(i int) {
	live := f.Live()
	if len(live) == 0 {
		return
	}
	a := live[i%len(live)]
	a.dead, a.jobs = true, map[string]string{}
}

// beat heartbeats every live agent (renewing its leases; a drain answer
// is honoured by the farm's refusing its claims).
func (f *SimFarm) Beat() {
	for _, a := range f.Live() {
		var hj []claims.HeartbeatJob
		for id, tok := range a.jobs {
			hj = append(hj, claims.HeartbeatJob{ID: id, ClaimToken: tok})
		}
		if _, err := f.Svc.Claims.Heartbeat(f.Ctx, a.name, hj, false); err != nil {
			panic(err)
		}
	}
}

// advance moves time on, heartbeating live agents first, and reaps.
func (f *SimFarm) Advance(d time.Duration) {
	for d > 0 {
		step := min(d, 10*time.Second)
		f.Beat()
		f.Clock.Advance(step)
		d -= step
	}
	_, _ = f.Svc.Reaper.Reap(f.Ctx)
}

// overlap runs two scaler passes whose observations interleave, as two
// runs would whose leases both lapsed: both plan, then both apply, in
// either order; the bits of moves say where the world moves on meanwhile
// (1: claims between the looks, 2: an agent registers and claims between
// the looks, 4: claims between the two applies, 8: the second applies first).
func (f *SimFarm) Overlap(moves int) {
	rec, err := f.Store.GetScalerRecord(f.Ctx, f.Cfg.Pool)
	if err != nil {
		panic(err)
	}
	plans := make([]*scaler.Plan, 2)
	for i := range plans {
		p, err := f.Scaler.Plan(f.Ctx, f.Cfg, rec.Marks)
		if err != nil {
			panic(err)
		}
		plans[i] = p
		if i == 0 && moves&2 != 0 {
			f.Boot(1)
		}
		if i == 0 && moves&3 != 0 {
			f.Claim()
		}
	}
	order := []int{0, 1}
	if moves&8 != 0 {
		order = []int{1, 0}
	}
	for k, i := range order {
		f.Scaler.Apply(f.Ctx, f.Cfg, plans[i], &scaler.PoolReport{Pool: f.Cfg.Pool})
		if k == 0 && moves&4 != 0 {
			f.Claim()
		}
	}
}

// timeline runs a random timeline of submits, claims, completions, builder
// deaths, time passing and scaler runs — some of them overlapping, their
// observations interleaved — on f, checking after every step that the
// group never went above max and that no instance was removed while its
// builder held a job.
func Timeline(t *rapid.T, f *SimFarm, steps int) {
	for i := range steps {
		switch op := rapid.IntRange(0, 9).Draw(t, "op"); op {
		case 0, 1:
			f.Submit(rapid.IntRange(1, 6).Draw(t, "submit"))
		case 2:
			f.Boot(rapid.IntRange(0, 3).Draw(t, "boot"))
			f.Claim()
		case 3:
			f.Complete(rapid.IntRange(1, 4).Draw(t, "complete"))
		case 4:
			f.Kill(rapid.IntRange(0, 7).Draw(t, "kill"))
		case 5:
			f.Advance(time.Duration(rapid.IntRange(1, 600).Draw(t, "seconds")) * time.Second)
		case 6:
			if _, err := f.Scaler.TickPool(f.Ctx, f.Cfg.Pool, scaler.TriggerSchedule); err != nil {
				t.Fatalf("step %d: tick: %v", i, err)
			}
		case 7, 9:
			f.Overlap(rapid.IntRange(0, 15).Draw(t, "moves"))
		case 8:
			f.Boot(rapid.IntRange(0, 3).Draw(t, "boot"))
		}
		if v := f.Groups.Violated(); len(v) > 0 {
			t.Fatalf("step %d: %v", i, v)
		}
		if d, _ := f.Groups.Describe(f.Ctx, f.Cfg.Group); d.Desired > f.Cfg.Max {
			t.Fatalf("step %d: desired %d above max %d", i, d.Desired, f.Cfg.Max)
		}
	}
}
