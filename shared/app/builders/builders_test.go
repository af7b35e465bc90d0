package builders_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

type queues struct{}

func (queues) QueueURLs(pools []string) map[string]string {
	out := map[string]string{}
	for _, p := range pools {
		out[p] = "https://sqs.test/pool-" + p
	}
	return out
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newService(t *testing.T) (*builders.Service, *memstore.Store, *clock) {
	t.Helper()
	mem := memstore.New()
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	s := builders.New(builders.Options{Store: mem, Queues: queues{}, Pools: farm.NewPools([]string{"default", "amd64"}),
		Policy: farm.Policy{Heartbeat: 10 * time.Second}, Clock: c.Now, Logger: slog.New(slog.DiscardHandler)})
	return s, mem, c
}

var (
	admin   = farm.Principal{Role: farm.RoleAdmin}
	spec    = farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"default"}, Slots: 2}
	ctx     = context.Background()
	boundB1 = farm.Principal{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"amd64"}}
)

func TestRegister(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		by    farm.Principal
		bname string
		spec  farm.BuilderSpec
		code  string
	}{
		{"admin", admin, "b1", spec, ""},
		{"token bound to other pools", boundB1, "b1", spec, farm.EForbidden},
		{"token bound to its pool", boundB1, "b1", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"amd64"}, Slots: 1}, ""},
		{"bad name", admin, "B 1", spec, farm.EInvalid},
		{"pool not served", admin, "b1", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"gpu"}, Slots: 1}, farm.EInvalid},
		{"no slots", admin, "b1", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"default"}, Slots: -1}, farm.EInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := newService(t)
			reg, err := s.Register(ctx, tc.by, tc.bname, tc.spec)
			if tc.code != "" {
				if !farm.IsCode(err, tc.code) {
					t.Fatalf("Register = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reg.Builder.Name != tc.bname || reg.Builder.CleanStatus != farm.CleanClean || reg.Heartbeat != 10*time.Second || reg.Lease != 30*time.Second ||
				len(reg.QueueURLs) != len(tc.spec.Pools) || reg.QueueURLs[tc.spec.Pools[0]] == "" {
				t.Fatalf("registration %+v", reg)
			}
		})
	}
}

// Registering again keeps the builder's health record; a lost builder is back.
func TestRegisteringAgainKeepsHealth(t *testing.T) {
	t.Parallel()
	s, mem, _ := newService(t)
	reg, err := s.Register(ctx, admin, "b1", spec)
	if err != nil {
		t.Fatal(err)
	}
	b := reg.Builder
	lost := b.Clone()
	lost.State, lost.ConsecutiveFailures, lost.Disabled, lost.DisabledReason, lost.Version = farm.BuilderLost, 2, true, "flaky", b.Version+1
	if err := mem.Commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: b, Next: lost}}}); err != nil {
		t.Fatal(err)
	}
	again, err := s.Register(ctx, admin, "b1", farm.BuilderSpec{Kind: farm.KindMetal, Arch: "arm64", Pools: []string{"amd64"}, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := again.Builder
	if got.State == farm.BuilderLost || got.ConsecutiveFailures != 2 || !got.Disabled || got.Kind != farm.KindMetal || got.Pools[0] != "amd64" {
		t.Fatalf("re-registered %+v", got)
	}
}

func TestDisableAndEnable(t *testing.T) {
	t.Parallel()
	s, _, _ := newService(t)
	if _, err := s.Register(ctx, admin, "b1", spec); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason string
		field  string
	}{{"", "reason"}, {"   ", "reason"}, {strings.Repeat("r", builders.MaxReason+1), "reason"}} {
		if _, err := s.Disable(ctx, admin, "b1", tc.reason); !farm.IsCode(err, farm.EInvalid) {
			t.Fatalf("Disable(%.10q) = %v", tc.reason, err)
		}
	}
	if _, err := s.Disable(ctx, admin, "nope", "x"); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("unknown builder: %v", err)
	}
	b, err := s.Disable(ctx, admin, "b1", "disk failing")
	if err != nil || !b.Disabled || b.DisabledReason != "disk failing (by admin)" || b.CanClaim() == nil {
		t.Fatalf("disabled %+v %v", b, err)
	}
	if _, err := s.Enable(ctx, admin, "b1", strings.Repeat("r", builders.MaxReason+1)); !farm.IsCode(err, farm.EInvalid) {
		t.Fatalf("long enable reason: %v", err)
	}
	b, err = s.Enable(ctx, admin, "b1", "replaced")
	if err != nil || b.Disabled || b.DisabledReason != "" || b.ConsecutiveFailures != 0 {
		t.Fatalf("enabled %+v %v", b, err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "b1" {
		t.Fatalf("list %+v %v", list, err)
	}
}

// Jobs and liveness: a builder's current jobs are the ones the reap index
// shows it holding (no write of its own); a heartbeat records the jobs it
// finished; a run that changes nothing on the builder writes nothing, one
// after failures clears them; a builder silent for a lease is lost.
func TestSlotsAndLiveness(t *testing.T) {
	t.Parallel()
	s, mem, c := newService(t)
	reg, err := s.Register(ctx, admin, "b1", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{"default"}, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	running := &farm.Job{ID: "01KAWZ6F0000000000000000R1", Type: farm.TypeScript, Status: farm.StatusRunning, Pool: "default", Builder: "b1", CreatedAt: c.now,
		LeaseExpiresAt: farm.TimePtr(c.now.Add(30 * time.Second)), Version: 1}
	if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: running}}}); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Get(ctx, "b1")
	if len(b.CurrentJobs) != 1 || b.State != farm.BuilderBusy || b.Version != reg.Builder.Version {
		t.Fatalf("a builder holding a job %+v", b)
	}
	if bs, _ := s.List(ctx); len(bs) != 1 || len(bs[0].CurrentJobs) != 1 {
		t.Fatalf("listed %+v", bs)
	}
	if _, err := s.Beat(ctx, "b1", 0, false, c.now); err != nil {
		t.Fatal(err)
	}
	b, _ = s.Get(ctx, "b1")
	done := running.Touched()
	done.Status, done.LeaseExpiresAt = farm.StatusSucceeded, nil
	if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Prev: running, Next: done}}}); err != nil {
		t.Fatal(err)
	}
	s.AfterRun(ctx, "b1", done, false)
	if after, _ := s.Get(ctx, "b1"); after.Version != b.Version {
		t.Fatalf("a run that changes nothing wrote the builder: %+v", after)
	}
	drain, err := s.Beat(ctx, "b1", 1, true, c.now)
	if b, _ = s.Get(ctx, "b1"); err != nil || !drain || len(b.CurrentJobs) != 0 || !b.Draining || b.JobsCompleted != 1 {
		t.Fatalf("after a heartbeat %+v drain=%v %v", b, drain, err)
	}
	// A success after failures clears them (the claim cache sees it at once).
	s.Amend(ctx, "b1", func(b *farm.Builder) { b.ConsecutiveFailures = 2 })
	s.AfterRun(ctx, "b1", done, true)
	if b, _ = s.Get(ctx, "b1"); b.ConsecutiveFailures != 0 || b.CleanStatus != farm.CleanDirty {
		t.Fatalf("after a success following failures %+v", b)
	}
	// Silent for less than a lease: still alive; for a lease: lost.
	c.now = c.now.Add(29 * time.Second)
	if n, err := s.MarkLost(ctx); n != 0 || err != nil {
		t.Fatalf("marked %d lost early: %v", n, err)
	}
	c.now = c.now.Add(time.Second)
	if n, err := s.MarkLost(ctx); n != 1 || err != nil {
		t.Fatalf("marked %d lost: %v", n, err)
	}
	if b, _ = s.Get(ctx, "b1"); b.State != farm.BuilderLost {
		t.Fatalf("silent builder %s", b.State)
	}
	if n, _ := s.MarkLost(ctx); n != 0 {
		t.Fatal("a lost builder was marked lost again")
	}
}

// A drain request fences claims from the write on; OnlyIdle refuses a busy
// builder; a placeholder drains a builder before it ever registers; a
// lifted drain lets it claim again.
func TestDrainRequests(t *testing.T) {
	t.Parallel()
	s, mem, c := newService(t)
	if _, err := s.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: " "}); !farm.IsCode(err, farm.EInvalid) {
		t.Fatalf("no reason: %v", err)
	}
	if _, err := s.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: "scale-in"}); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("unknown builder: %v", err)
	}
	reg, err := s.Register(ctx, admin, "b1", spec)
	if err != nil {
		t.Fatal(err)
	}
	// A job claimed since the builder was last written: the index shows it.
	busy := &farm.Job{ID: "01KAWZ6F0000000000000000R1", Type: farm.TypeScript, Status: farm.StatusRunning, Pool: "default", Builder: reg.Builder.Name, CreatedAt: c.now,
		LeaseExpiresAt: farm.TimePtr(c.now.Add(30 * time.Second)), Version: 1}
	if err := mem.Commit(ctx, store.Tx{Jobs: []store.JobWrite{{Next: busy}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: "scale-in", OnlyIdle: true}); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("OnlyIdle on a busy builder: %v", err)
	}
	b, err := s.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: "scale-in"})
	if err != nil || !b.DrainRequested || b.DrainReason != "scale-in" || b.CanClaim() == nil {
		t.Fatalf("drained %+v %v", b, err)
	}
	if drain, err := s.Beat(ctx, "b1", 0, false, c.now); err != nil || !drain {
		t.Fatalf("heartbeat of a drained builder: drain=%v %v", drain, err)
	}
	// Asking again changes nothing.
	cur, _ := s.Get(ctx, "b1")
	again, err := s.RequestDrain(ctx, builders.DrainRequest{Name: "b1", Reason: "again"})
	if err != nil || again.Version != cur.Version || again.DrainReason != "scale-in" {
		t.Fatalf("asked again %+v %v", again, err)
	}
	if b, err = s.LiftDrain(ctx, "b1"); err != nil || b.DrainRequested {
		t.Fatalf("lifted %+v %v", b, err)
	}
	p, err := s.RequestDrain(ctx, builders.DrainRequest{Name: "i-0new", Reason: "never registered", Placeholder: map[string]string{"fleet_group": "g"}})
	if err != nil || !p.DrainRequested || p.Metadata["fleet_group"] != "g" || len(p.Pools) != 0 {
		t.Fatalf("placeholder %+v %v", p, err)
	}
	// Registering does not lift it.
	reg, err = s.Register(ctx, admin, "i-0new", spec)
	if err != nil || !reg.Builder.DrainRequested {
		t.Fatalf("registered placeholder %+v %v", reg, err)
	}
}
