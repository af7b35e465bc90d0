package scalertest

import (
	"context"
	"fmt"
	"sync"

	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// FakeGroups is an Auto Scaling group in memory that behaves like moto's:
// it accepts a desired capacity above max (AWS refuses it), launches
// protected instances up to desired, and lets any instance be terminated.
type FakeGroups struct {
	mu        sync.Mutex
	name      string
	min, max  int
	desired   int
	instances map[string]bool // id -> alive
	order     []string
	next      int
}

func NewFakeGroups(name string, min, max int) *FakeGroups {
	g := &FakeGroups{name: name, min: min, max: max, instances: map[string]bool{}}
	g.desired = min
	g.reconcile()
	return g
}

func (g *FakeGroups) reconcile() {
	alive := 0
	for _, a := range g.instances {
		if a {
			alive++
		}
	}
	for ; alive < g.desired; alive++ {
		g.next++
		id := fmt.Sprintf("i-%08x", g.next)
		g.instances[id] = true
		g.order = append(g.order, id)
	}
}

func (g *FakeGroups) Describe(_ context.Context, group string) (fleet.Group, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := fleet.Group{Name: group, Min: g.min, Max: g.max, Desired: g.desired}
	for _, id := range g.order {
		life := fleet.InService
		if !g.instances[id] {
			life = fleet.Leaving
		}
		out.Instances = append(out.Instances, fleet.Instance{ID: id, Lifecycle: life, Protected: true})
	}
	return out, nil
}

func (g *FakeGroups) SetDesired(_ context.Context, _ string, n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.desired = n
	g.reconcile()
	return nil
}

func (g *FakeGroups) Remove(_ context.Context, _, id string, decrement bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.instances[id] {
		return nil
	}
	g.instances[id] = false
	if decrement {
		g.desired--
	}
	g.reconcile()
	return nil
}

// RouteGroups sends each group's calls to its own fake.
type RouteGroups map[string]interface {
	Describe(ctx context.Context, group string) (fleet.Group, error)
	SetDesired(ctx context.Context, group string, n int) error
	Remove(ctx context.Context, group, id string, decrement bool) error
}

func (r RouteGroups) Describe(ctx context.Context, group string) (fleet.Group, error) {
	return r[group].Describe(ctx, group)
}

func (r RouteGroups) SetDesired(ctx context.Context, group string, n int) error {
	return r[group].SetDesired(ctx, group, n)
}

func (r RouteGroups) Remove(ctx context.Context, group, id string, decrement bool) error {
	return r[group].Remove(ctx, group, id, decrement)
}
