package fleete2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/asgfleet"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/app/instanceauth"
	"github.com/buildfarm/buildfarm/shared/app/scaler"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/instanceauthtest"
	"github.com/buildfarm/buildfarm/shared/testkit/scalertest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

const (
	adminToken = "fleet-scenario-admin-token-0123456789"
	account    = "123456789012"
	// hangGuard bounds waits for what must happen; never a performance check.
	hangGuard = 90 * time.Second
)

// instanceAgent is the machine behind one moto instance: its metadata
// service and its agent.
type instanceAgent struct {
	id     string
	imds   *instanceauthtest.IMDS
	agent  *agent.Agent
	cancel context.CancelFunc
	done   chan error
}

// scenario is the farm on the emulator with one elastic pool.
type scenario struct {
	t       *testing.T
	ctx     context.Context
	farm    *wiring.Farm
	api     string
	admin   *client.Client
	pool    fleet.PoolConfig
	groups  *asgfleet.Groups
	guard   *scalertest.Guard
	scaler  *scaler.Scaler
	signer  *instanceauthtest.Signer
	sqs     *sqs.Client
	mu      sync.Mutex
	skew    time.Duration // the scaler's clock runs ahead, so idle time passes without waiting
	agents  map[string]*instanceAgent
	workDir string
}

func (s *scenario) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.skew)
}

func (s *scenario) jump(d time.Duration) {
	s.mu.Lock()
	s.skew += d
	s.mu.Unlock()
}

func newScenario(t *testing.T) *scenario {
	top, cfg, _ := emulatortest.Topology(t, "default")
	ctx := context.Background()
	logger := slog.New(slog.NewJSONHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := wiring.New(ctx, wiring.Config{Topology: top, Policy: farm.Policy{Heartbeat: time.Second}}, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	asgapi := autoscaling.NewFromConfig(cfg)
	s := &scenario{t: t, ctx: ctx, farm: f, groups: asgfleet.New(asgapi), agents: map[string]*instanceAgent{}, sqs: sqs.NewFromConfig(cfg), workDir: t.TempDir(),
		pool: fleet.PoolConfig{Pool: "default", Group: top.Prefix + "-default", Min: 0, Max: 3, Slots: 2, IdleSeconds: 60, BootSeconds: 600}}
	del, err := scalertest.CreateGroup(ctx, ec2.NewFromConfig(cfg), asgapi, scalertest.GroupSpec{Name: s.pool.Group, Pool: "default", Min: 0, Max: 3, InstanceTypes: []string{"t4g.medium", "c7g.large"}, ImageID: "ami-12c6146b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = del(context.Background()) })
	if s.signer, err = instanceauthtest.NewSigner(); err != nil {
		t.Fatal(err)
	}
	verifier, err := instanceauth.ParseCertificates(s.signer.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	fl := fleet.Config{Pools: []fleet.PoolConfig{s.pool}, Account: account, TokenSeconds: 600}
	tok := f.Tokens(adminToken)
	srv, err := f.APIWith(tok)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetInstanceTokens(&instanceauth.Issuer{Verifier: verifier, Fleet: fl, Groups: s.groups, Store: f.Store, Tokens: tok, Logger: logger})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	s.api = hs.URL
	if s.admin, err = client.New(hs.URL, adminToken); err != nil {
		t.Fatal(err)
	}
	s.guard = &scalertest.Guard{Groups: s.groups, Max: s.pool.Max, Busy: s.busy}
	s.scaler = &scaler.Scaler{Fleet: fl, Store: f.Store, Drainer: f.Builders, Groups: s.guard, Clock: s.now, Logger: logger}
	t.Cleanup(s.stopAll)
	return s
}

// busy says why removing instance id would break the promise ("" if not):
// its builder holds a job on the farm, or its agent runs one.
func (s *scenario) busy(id string) string {
	if b, err := s.farm.Store.GetBuilder(s.ctx, id); err == nil && len(b.CurrentJobs) > 0 {
		return fmt.Sprintf("holds %v on the farm", b.CurrentJobs)
	}
	s.mu.Lock()
	a := s.agents[id]
	s.mu.Unlock()
	if a != nil && a.agent != nil {
		if run := a.agent.Status().Running; len(run) > 0 {
			return fmt.Sprintf("runs %v", run)
		}
	}
	return ""
}

func (s *scenario) group() fleet.Group {
	g, err := s.groups.Describe(s.ctx, s.pool.Group)
	if err != nil {
		s.t.Fatal(err)
	}
	return g
}

func alive(g fleet.Group) []string {
	var out []string
	for _, in := range g.Instances {
		if in.Alive() {
			out = append(out, in.ID)
		}
	}
	return out
}

// tick runs one scaler pass and checks the cap on the real group.
func (s *scenario) tick(trigger scaler.Trigger) *scaler.PoolReport {
	rep, err := s.scaler.TickPool(s.ctx, s.pool.Pool, trigger)
	if err != nil {
		s.t.Fatalf("tick: %v", err)
	}
	if g := s.group(); g.Desired > s.pool.Max {
		s.t.Fatalf("desired %d above max %d", g.Desired, s.pool.Max)
	}
	if v := s.guard.Violated(); len(v) > 0 {
		s.t.Fatalf("promises broken: %v", v)
	}
	s.sync()
	return rep
}

// sync gives every alive instance a machine (metadata service and agent)
// and takes it from every instance that left the group.
func (s *scenario) sync() {
	live := alive(s.group())
	for _, id := range live {
		s.mu.Lock()
		_, ok := s.agents[id]
		s.mu.Unlock()
		if !ok {
			s.boot(id)
		}
	}
	s.mu.Lock()
	var gone []*instanceAgent
	for id, a := range s.agents {
		if !slices.Contains(live, id) {
			gone = append(gone, a)
			delete(s.agents, id)
		}
	}
	s.mu.Unlock()
	for _, a := range gone {
		a.cancel() // the machine is gone: its agent dies with it
		<-a.done
		a.imds.Close()
	}
}

// boot starts the machine of instance id: it gets its token from its
// signed identity (no shared secret), then runs the agent.
func (s *scenario) boot(id string) {
	m := s.signer.NewIMDS(instanceauthtest.Document{InstanceID: id, AccountID: account, InstanceType: "t4g.medium", Architecture: "arm64"})
	anon, err := client.New(s.api, "")
	if err != nil {
		s.t.Fatal(err)
	}
	holder := &client.TokenHolder{}
	creds := &agent.InstanceCredentials{API: anon, Tokens: holder, NonceFile: filepath.Join(s.workDir, id, "nonce"), Endpoint: m.URL}
	if _, err := creds.Fetch(s.ctx); err != nil {
		s.t.Fatalf("instance %s token: %v", id, err)
	}
	c, err := client.New(s.api, "", client.WithTokenSource(holder))
	if err != nil {
		s.t.Fatal(err)
	}
	cfg := agent.Config{
		Name:              id,
		Spec:              farm.BuilderSpec{Kind: farm.KindEC2, Arch: "arm64", Pools: []string{"default"}, Slots: s.pool.Slots, Metadata: map[string]string{"instance_id": id}},
		WorkDir:           filepath.Join(s.workDir, id, "work"),
		Executors:         executor.NewSet(nil, executor.Options{KillGrace: 500 * time.Millisecond, Isolation: &executor.Isolation{}}),
		Logger:            slog.New(slog.NewJSONHandler(s.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("instance", id),
		IdleClaimInterval: 500 * time.Millisecond,
		BackoffMin:        50 * time.Millisecond,
		BackoffMax:        time.Second,
		Fleet:             agent.FleetOptions{Interruptions: agent.NewSpotNotices(m.URL), InterruptionPoll: 100 * time.Millisecond},
	}
	a, err := agent.New(cfg, c, sqsdoorbell.NewReceiver(s.sqs))
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	ia := &instanceAgent{id: id, imds: m, agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ia.done <- a.Run(ctx) }()
	s.mu.Lock()
	s.agents[id] = ia
	s.mu.Unlock()
}

func (s *scenario) stopAll() {
	s.mu.Lock()
	all := make([]*instanceAgent, 0, len(s.agents))
	for _, a := range s.agents {
		all = append(all, a)
	}
	s.agents = map[string]*instanceAgent{}
	s.mu.Unlock()
	for _, a := range all {
		a.cancel()
		<-a.done
		a.imds.Close()
	}
}

func (s *scenario) submit(n int, script string) []string {
	var ids []string
	for i := range n {
		j, _, err := s.admin.SubmitJob(s.ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: []byte(fmt.Sprintf(`{"script":%q}`, fmt.Sprintf("%s # %d", script, i)))}, "")
		if err != nil {
			s.t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// until ticks the scaler every half second until cond holds.
func (s *scenario) until(what string, cond func() bool) {
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
		s.tick(scaler.TriggerSchedule)
	}
}

func (s *scenario) statuses(ids []string) map[farm.JobStatus]int {
	out := map[farm.JobStatus]int{}
	for _, id := range ids {
		j, err := s.farm.Store.GetJob(s.ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		out[j.Status]++
	}
	return out
}

// TestFleetFollowsTheQueue: bursts of submissions scale the pool's group
// out within one tick, never past max; a spot notice hands a job back at
// once; idle builders are drained and removed, never a busy one; the pool
// returns to min (0: nothing runs, nothing costs) when idle.
func TestFleetFollowsTheQueue(t *testing.T) {
	t.Parallel()
	s := newScenario(t)

	if rep := s.tick(scaler.TriggerSchedule); rep.Desired != 0 || len(alive(s.group())) != 0 {
		t.Fatalf("idle pool at min 0: desired %d, %d instances", rep.Desired, len(alive(s.group())))
	}

	// A burst: 5 jobs over 2 slots need 3 instances — one tick. (The idle
	// tick above was a while ago, as it would be: bursts within the
	// scaler's minimum interval of a tick are absorbed.)
	s.jump(scaler.DefaultMinInterval)
	start := time.Now()
	first := s.submit(5, "sleep 1")
	rep := s.tick(scaler.TriggerBurst)
	if rep.Desired != 3 || s.group().Desired != 3 {
		t.Fatalf("after one tick: desired %d (group %d), want 3: %s", rep.Desired, s.group().Desired, rep.Reason)
	}
	s.until("a first claim on a new instance", func() bool { return s.statuses(first)[farm.StatusQueued] < 5 })
	t.Logf("measured: burst to the first claim on a new instance: %s (agents start at once here; on EC2 add the instance's boot)", time.Since(start).Round(time.Millisecond))
	s.until("the first burst to finish", func() bool { return s.statuses(first)[farm.StatusSucceeded] == 5 })

	// A bigger burst: 12 jobs need 6 instances; the cap is 3. (The jobs
	// run for a few seconds, so that the 3 instances serving cannot have
	// brought the need down to the cap by the time the tick counts them;
	// how far below 6 it is depends on the machine, and is not the point.)
	second := s.submit(12, "sleep 3")
	s.jump(scaler.DefaultMinInterval)
	if rep := s.tick(scaler.TriggerBurst); rep.Need <= s.pool.Max || rep.Desired != s.pool.Max {
		t.Fatalf("capped burst: need %d desired %d, want a need over the cap and desired at the cap %d: %s", rep.Need, rep.Desired, s.pool.Max, rep.Reason)
	}
	// A spot notice on a busy instance: its job goes back to the queue now.
	long := s.submit(1, "sleep 8")[0]
	var victim *instanceAgent
	s.until("the long job to run", func() bool {
		j, _ := s.farm.Store.GetJob(s.ctx, long)
		if j.Status != farm.StatusRunning {
			return false
		}
		s.mu.Lock()
		victim = s.agents[j.Builder]
		s.mu.Unlock()
		return victim != nil
	})
	noticed := time.Now()
	victim.imds.Interrupt("terminate", time.Now().Add(2*time.Minute))
	s.until("the interrupted job back in the queue", func() bool {
		evs, _ := s.farm.Store.JobEvents(s.ctx, long)
		for _, ev := range evs {
			if ev.From == farm.StatusRunning && ev.To == farm.StatusQueued && strings.Contains(ev.Detail, "spot instance-action") {
				return true
			}
		}
		return false
	})
	t.Logf("measured: spot notice to the job requeued: %s (the lease is %s)", time.Since(noticed).Round(time.Millisecond), s.farm.Policy.Lease)
	all := append(second, long)
	s.until("every job to finish", func() bool { return s.statuses(all)[farm.StatusSucceeded] == len(all) })
	if j, _ := s.farm.Store.GetJob(s.ctx, long); j.Builder == victim.id {
		t.Fatalf("the interrupted job ran on the interrupted instance %s again", victim.id)
	}

	// Idle: builders are drained after the idle time, then removed; the
	// pool returns to min.
	s.tick(scaler.TriggerSchedule) // marks every builder idle from now
	s.jump(61 * time.Second)
	rep = s.tick(scaler.TriggerSchedule)
	if len(rep.Drained) == 0 {
		t.Fatalf("nothing drained after the idle time: %s (%v)", rep.Reason, rep.Errors)
	}
	s.jump(fleet.DrainGrace + time.Second)
	s.until("the pool back at min", func() bool {
		s.jump(5 * time.Second)
		g := s.group()
		return g.Desired == s.pool.Min && len(alive(g)) == s.pool.Min
	})
	if v := s.guard.Violated(); len(v) > 0 {
		t.Fatalf("promises broken: %v", v)
	}
	removed := s.guard.Removed()
	t.Logf("instances removed by the scaler: %d %v", len(removed), removed)
	if len(removed) < 3 {
		t.Fatalf("removed %v, want at least the 3 idle instances", removed)
	}
}
