package crashpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/crashpoint"
)

var (
	t0     = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	admin  = farm.Principal{Role: farm.RoleAdmin}
	alice  = farm.Principal{Role: farm.RoleSubmitter, TokenID: "alice"}
	policy = farm.Policy{Heartbeat: 10 * time.Second}
)

// A scenario brings a farm to the moment of one use case (every process
// alive, unless the setup stops one itself), then runs the use case in a
// process that may crash.
type scenario struct {
	name  string
	setup func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients)
	// run is the use case in process p: an API request (Farm.Serve), a
	// dispatcher invocation (Farm.Dispatch) or a reaper pass.
	run func(ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, p *crashpoint.Process) error
	// retry: after a crash the client sends the request again (the agent's
	// loops and spool, farmctl's keyed submits). The dispatcher's batch is
	// always delivered again; a reaper pass always comes round.
	retry bool
}

func api(do func(ctx context.Context, c *crashpoint.Call) error) func(context.Context, *crashpoint.Farm, *crashpoint.Clients, *crashpoint.Process) error {
	return func(ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, p *crashpoint.Process) error {
		return f.Serve(ctx, cs, p, do)
	}
}

func dispatcher(ctx context.Context, f *crashpoint.Farm, _ *crashpoint.Clients, p *crashpoint.Process) error {
	f.Dispatch(ctx, p)
	return nil
}

func reaperPass(ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, p *crashpoint.Process) error {
	return f.Serve(ctx, cs, p, func(ctx context.Context, c *crashpoint.Call) error {
		_, err := c.Services.Reaper.Reap(ctx)
		return err
	})
}

// TestEveryCrashPointRecovers runs each use case once to count its
// writes, then once crashed after each of them (the last too: the answer
// is lost), and checks after the farm's recovery that nothing is lost,
// stranded or unfenced: first with idle agents (the farm's own recovery
// over its documented bounds, then the agents run everything), then with
// agents that go on claiming and running jobs from the moment of the
// crash.
func TestEveryCrashPointRecovers(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			writes := play(t, sc, crashpoint.Live(), false)
			if len(writes) == 0 {
				t.Fatal("the use case wrote nothing: the scenario does not reach it")
			}
			for k := 1; k <= len(writes); k++ {
				t.Run(fmt.Sprintf("after_%d_%s", k, writes[k-1].Kind), func(t *testing.T) {
					t.Logf("crash after %s", writes[k-1])
					for _, busy := range []bool{false, true} {
						play(t, sc, crashpoint.CrashAfter(k), busy)
					}
				})
			}
		})
	}
}

// play runs a scenario in process p, then the client's retry (if p
// crashed and the client retries), then the farm's recovery, and fails t
// with whatever is broken. With busy agents, they claim and run jobs from
// the moment of the crash on; else the farm recovers first on its own
// (and is checked), then they do. It returns p's writes.
func play(t *testing.T, sc scenario, p *crashpoint.Process, busy bool) []crashpoint.Write {
	t.Helper()
	ctx := context.Background()
	f := crashpoint.NewFarm(t0, policy, farm.DefaultPool)
	cs := crashpoint.NewClients()
	sc.setup(t, ctx, f, cs)
	err := sc.run(ctx, f, cs, p)
	switch {
	case p.Dead() && sc.retry:
		if err := sc.run(ctx, f, cs, crashpoint.Live()); err != nil {
			t.Fatalf("the client's retry after the crash: %v", err)
		}
	case !p.Dead() && err != nil:
		t.Fatalf("the use case failed: %v", err)
	}
	mode := "busy agents"
	if !busy {
		mode = "idle agents"
		if err := f.Recover(ctx, cs); err != nil {
			t.Fatalf("recovery: %v", err)
		}
		bad, err := f.Check(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("writes %v;\nbroken after recovery (%s):\n  %s", p.Writes(), mode, strings.Join(bad, "\n  "))
		}
	}
	if err := f.Work(ctx, cs); err != nil {
		t.Fatalf("the agents' work (%s): %v", mode, err)
	}
	bad, err := f.Check(ctx, cs)
	if err == nil {
		var more []string
		more, err = f.CheckSettled(ctx, cs)
		bad = append(bad, more...)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("writes %v;\nbroken once the agents ran everything (%s):\n  %s", p.Writes(), mode, strings.Join(bad, "\n  "))
	}
	return p.Writes()
}

// live runs one request with every process alive.
func live(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, do func(context.Context, *crashpoint.Call) error) {
	t.Helper()
	if err := f.Serve(ctx, cs, crashpoint.Live(), do); err != nil {
		t.Fatal(err)
	}
}

func script(extra string) json.RawMessage {
	return json.RawMessage(`{"script":"true"` + extra + `}`)
}

func submit(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, name string, req admission.Request) {
	t.Helper()
	live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
		req.RequestedBy = alice.Actor()
		job, _, err := c.Services.Jobs.Submit(ctx, req)
		if err == nil {
			c.Answer(func(cs *crashpoint.Clients) { cs.Names[name] = job.ID })
		}
		return err
	})
}

func register(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, name, boot string) {
	t.Helper()
	live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
		_, err := c.Services.Builders.Register(ctx, admin, name, farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{farm.DefaultPool}, Slots: 2, BootID: boot})
		return err
	})
}

// claimOne has builder b1 claim the best queued job.
func claimOne(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) string {
	t.Helper()
	var id string
	live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
		cl, err := c.Services.Claims.Claim(ctx, crashpoint.Builder("b1"), "b1", farm.DefaultPool)
		if err == nil && cl == nil {
			err = fmt.Errorf("nothing to claim")
		}
		if err == nil {
			c.Claimed("b1", cl)
			id = cl.Job.ID
		}
		return err
	})
	return id
}

// complete reports the result of a job b1 runs, in process p.
func complete(ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, p *crashpoint.Process, id string, result farm.JobStatus) error {
	return f.Serve(ctx, cs, p, func(ctx context.Context, c *crashpoint.Call) error {
		token := cs.Held["b1"][id]
		if token == "" {
			return nil // the agent no longer runs it
		}
		r := cs.Report(id, token, result)
		r.Log = "the run's log\n"
		_, err := c.Services.Claims.Complete(ctx, crashpoint.Builder("b1"), id, r)
		if err == nil {
			c.Done("b1", id)
		}
		return err
	})
}

func intp(n int) *int { return &n }

// queuedAndClaimed: b1 registered and running job "job".
func queuedAndClaimed(req admission.Request) func(*testing.T, context.Context, *crashpoint.Farm, *crashpoint.Clients) {
	return func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
		register(t, ctx, f, cs, "b1", "boot-1")
		submit(t, ctx, f, cs, "job", req)
		claimOne(t, ctx, f, cs)
	}
}

// withResource: a resource pool "gpus" of one resource, "gpu-1".
func withResource(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
	t.Helper()
	live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
		lease, clean := 30, "true"
		if _, _, err := c.Services.Resources.PutPool(ctx, "gpus", resources.PoolUpdate{LeaseSeconds: &lease, CleanScript: &clean}); err != nil {
			return err
		}
		_, err := c.Services.Resources.AddResource(ctx, "gpus", "gpu-1", nil)
		return err
	})
}

func acquire(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
	t.Helper()
	live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
		r, err := c.Services.Resources.Acquire(ctx, alice, "gpus", "ci", 0)
		if err == nil {
			c.Answer(func(cs *crashpoint.Clients) { cs.Leases["gpus/gpu-1"] = r.LeaseToken })
		}
		return err
	})
}

func release(ctx context.Context, c *crashpoint.Call) error {
	token := c.Clients.Leases["gpus/gpu-1"]
	if token == "" {
		return nil
	}
	_, err := c.Services.Resources.Release(ctx, alice, "gpus", "gpu-1", token)
	if err == nil {
		c.Answer(func(cs *crashpoint.Clients) { delete(cs.Leases, "gpus/gpu-1") })
	}
	return err
}

// cleanJobClaimed: gpu-1 released and its clean job claimed by b1.
func cleanJobClaimed(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
	t.Helper()
	withResource(t, ctx, f, cs)
	acquire(t, ctx, f, cs)
	live(t, ctx, f, cs, release)
	register(t, ctx, f, cs, "b1", "boot-1")
	cs.Names["job"] = claimOne(t, ctx, f, cs)
}

// isWriteOf matches the write that moves job id to status.
func isWriteOf(id string, to farm.JobStatus) func(crashpoint.Write) bool {
	return func(w crashpoint.Write) bool {
		return w.Kind == "commit" && strings.Contains(w.What, "job "+id+":") && strings.Contains(w.What, "→"+string(to))
	}
}

// completedBeforeFollowUp: the API wrote job "job"'s completion and died
// at once, so that its follow-up is the dispatcher's.
func completedBeforeFollowUp(result farm.JobStatus) func(*testing.T, context.Context, *crashpoint.Farm, *crashpoint.Clients) {
	return func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
		id := cs.Names["job"]
		if err := f.Recover(ctx, cs); err != nil { // the stream so far handled
			t.Fatal(err)
		}
		p := crashpoint.CrashWhen(isWriteOf(id, result))
		if err := complete(ctx, f, cs, p, id, result); err != crashpoint.ErrCrashed {
			t.Fatalf("the completion did not stop after its write: %v", err)
		}
		delete(cs.Held["b1"], id) // its retry is answered from the record
	}
}
