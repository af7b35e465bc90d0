package scaler_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/fleet"
	"github.com/buildfarm/buildfarm/shared/scaler"
	"github.com/buildfarm/buildfarm/shared/scheduler"
	"github.com/buildfarm/buildfarm/shared/storetest"
)

// guard wraps a pool's groups and records every breach of the fleet's two
// promises as it happens: a desired capacity above max, and the removal of
// an instance whose builder holds a job — by the farm's record or by what
// its (simulated) agent is running.
type guard struct {
	scaler.Groups
	max  int
	busy func(id string) string

	mu         sync.Mutex
	violations []string
	removed    []string
}

func (g *guard) SetDesired(ctx context.Context, group string, n int) error {
	if n > g.max {
		g.note(fmt.Sprintf("desired %d above max %d", n, g.max))
	}
	return g.Groups.SetDesired(ctx, group, n)
}

func (g *guard) Remove(ctx context.Context, group, id string, decrement bool) error {
	if why := g.busy(id); why != "" {
		g.note("removed " + id + " whose builder " + why)
	}
	g.mu.Lock()
	g.removed = append(g.removed, id)
	g.mu.Unlock()
	return g.Groups.Remove(ctx, group, id, decrement)
}

func (g *guard) note(v string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.violations = append(g.violations, v)
}

func (g *guard) violated() []string {
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

// simFarm is the farm's scheduler over a store, the scaler over a guarded
// group, and one simulated agent per instance.
type simFarm struct {
	ctx    context.Context
	store  scaler.Store
	sched  *scheduler.Scheduler
	clock  *storetest.Clock
	cfg    fleet.PoolConfig
	groups *guard
	scaler *scaler.Scaler
	agents map[string]*simAgent
	seq    int
}

func newSimFarm(store interface {
	scheduler.Store
	scaler.Store
}, groups scaler.Groups, cfg fleet.PoolConfig) *simFarm {
	clock := storetest.NewClock()
	quiet := slog.New(slog.DiscardHandler)
	sched := scheduler.New(scheduler.Options{Store: store, Pools: storetest.Pools, Clock: clock.Now, Logger: quiet,
		Config: scheduler.Config{Heartbeat: 10 * time.Second}})
	f := &simFarm{ctx: context.Background(), store: store, sched: sched, clock: clock, cfg: cfg, agents: map[string]*simAgent{}}
	f.groups = &guard{Groups: groups, max: cfg.Max, busy: f.busy}
	f.scaler = &scaler.Scaler{Fleet: fleet.Config{Pools: []fleet.PoolConfig{cfg}}, Store: store, Drainer: sched, Groups: f.groups, Clock: clock.Now, Logger: quiet}
	return f
}

// busy says why removing instance id would break a promise ("" if not).
func (f *simFarm) busy(id string) string {
	if a := f.agents[id]; a != nil && len(a.jobs) > 0 {
		return fmt.Sprintf("runs %d jobs", len(a.jobs))
	}
	if b, err := f.store.GetBuilder(f.ctx, id); err == nil && len(b.CurrentJobs) > 0 {
		return fmt.Sprintf("holds %v on the farm", b.CurrentJobs)
	}
	return ""
}

func (f *simFarm) alive() []string {
	g, err := f.groups.Describe(f.ctx, f.cfg.Group)
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

func (f *simFarm) submit(n int) {
	for range n {
		f.seq++
		payload := fmt.Sprintf(`{"script":"echo %d","pool":%q}`, f.seq, f.cfg.Pool)
		if _, _, err := f.sched.Submit(f.ctx, scheduler.SubmitRequest{Type: farm.TypeScript, Payload: []byte(payload), RequestedBy: "submitter:sim"}); err != nil {
			panic(err)
		}
	}
}

// boot registers the agents of up to n instances that have none yet.
func (f *simFarm) boot(n int) {
	for _, id := range f.alive() {
		if f.agents[id] != nil {
			continue
		}
		if n == 0 {
			return
		}
		n--
		a := &simAgent{name: id, jobs: map[string]string{}}
		f.agents[id] = a
		if _, err := f.sched.RegisterBuilder(f.ctx, id, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "arm64", Pools: []string{f.cfg.Pool}, Slots: f.cfg.Slots}); err != nil {
			panic(err)
		}
		a.registered = true
	}
}

// live lists the agents of alive instances that are running.
func (f *simFarm) live() []*simAgent {
	var out []*simAgent
	for _, id := range f.alive() {
		if a := f.agents[id]; a != nil && a.registered && !a.dead {
			out = append(out, a)
		}
	}
	return out
}

// claim has every live agent claim while it has free slots.
func (f *simFarm) claim() {
	for _, a := range f.live() {
		for len(a.jobs) < f.cfg.Slots {
			j, err := f.sched.Claim(f.ctx, a.name, f.cfg.Pool)
			if err != nil || j == nil {
				break
			}
			a.jobs[j.ID] = j.ClaimToken
		}
	}
}

// complete finishes up to n held jobs, in a stable order.
func (f *simFarm) complete(n int) {
	for _, a := range f.live() {
		ids := make([]string, 0, len(a.jobs))
		for id := range a.jobs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if n == 0 {
				return
			}
			_, _ = f.sched.Complete(f.ctx, a.name, id, farm.Completion{ClaimToken: a.jobs[id], Result: farm.StatusSucceeded})
			delete(a.jobs, id)
			n--
		}
	}
}

// kill stops the agent of the i-th alive instance: what it ran is lost
// with it; the farm finds out when its leases expire.
func (f *simFarm) kill(i int) {
	live := f.live()
	if len(live) == 0 {
		return
	}
	a := live[i%len(live)]
	a.dead, a.jobs = true, map[string]string{}
}

// beat heartbeats every live agent (renewing its leases; a drain answer
// is honoured by the farm's refusing its claims).
func (f *simFarm) beat() {
	for _, a := range f.live() {
		var hj []scheduler.HeartbeatJob
		for id, tok := range a.jobs {
			hj = append(hj, scheduler.HeartbeatJob{ID: id, ClaimToken: tok})
		}
		if _, err := f.sched.Heartbeat(f.ctx, a.name, hj, false); err != nil {
			panic(err)
		}
	}
}

// advance moves time on, heartbeating live agents first, and reaps.
func (f *simFarm) advance(d time.Duration) {
	for d > 0 {
		step := min(d, 10*time.Second)
		f.beat()
		f.clock.Advance(step)
		d -= step
	}
	_, _ = f.sched.Reap(f.ctx)
}

// overlap runs two scaler passes whose observations interleave, as two
// runs would whose leases both lapsed: both plan, then both apply, in
// either order; the bits of moves say where the world moves on meanwhile
// (1: claims between the looks, 2: an agent registers and claims between
// the looks, 4: claims between the two applies, 8: the second applies first).
func (f *simFarm) overlap(moves int) {
	rec, err := f.store.GetScalerRecord(f.ctx, f.cfg.Pool)
	if err != nil {
		panic(err)
	}
	plans := make([]*scaler.Plan, 2)
	for i := range plans {
		p, err := f.scaler.Plan(f.ctx, f.cfg, rec.Marks)
		if err != nil {
			panic(err)
		}
		plans[i] = p
		if i == 0 && moves&2 != 0 {
			f.boot(1)
		}
		if i == 0 && moves&3 != 0 {
			f.claim()
		}
	}
	order := []int{0, 1}
	if moves&8 != 0 {
		order = []int{1, 0}
	}
	for k, i := range order {
		f.scaler.Apply(f.ctx, f.cfg, plans[i], &scaler.PoolReport{Pool: f.cfg.Pool})
		if k == 0 && moves&4 != 0 {
			f.claim()
		}
	}
}
