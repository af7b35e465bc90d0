package agent_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/testkit/instanceauthtest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// realFarm is the farm's own API over the in-memory store: what the fleet's
// agent features are checked against (claims, hand-backs, registrations).
type realFarm struct {
	svc   *wiring.Services
	store *memstore.Store
	url   string
	admin *client.Client
}

const fleetAdmin = "fleet-test-admin-token-0123456789"

func newRealFarm(t *testing.T) *realFarm {
	store := memstore.New()
	logger := slog.New(slog.NewJSONHandler(t.Output(), nil))
	svc := wiring.NewServices(wiring.Deps{Store: store, Blobs: memblobs.New("fleet"), Pools: []string{"default"}, Logger: logger, Policy: farm.Policy{Heartbeat: time.Second}})
	srv, err := svc.API(fleetAdmin)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	admin, err := client.New(hs.URL, fleetAdmin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.HTTPClient().CloseIdleConnections)
	return &realFarm{svc: svc, store: store, url: hs.URL, admin: admin}
}

func (f *realFarm) submit(t *testing.T, script string) *farm.Job {
	j, _, err := f.svc.Jobs.Submit(context.Background(), admission.Request{Type: farm.TypeScript, Payload: []byte(`{"script":` + quote(script) + `}`), RequestedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func (f *realFarm) job(t *testing.T, id string) *farm.Job {
	j, err := f.store.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// runAgent runs an agent of cfg against the farm until it returns.
func (f *realFarm) runAgent(t *testing.T, cfg agent.Config) (*agent.Agent, chan error) {
	tok, err := f.admin.CreateToken(context.Background(), apiv1.TokenRequest{Role: string(farm.RoleBuilder), Builder: cfg.Name})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(f.url, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTPClient().CloseIdleConnections)
	a, err := agent.New(cfg, c, newFakeBells(&fakeFarm{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a, done
}

func waitRun(t *testing.T, done chan error) error {
	select {
	case err := <-done:
		done <- err
		return err
	case <-time.After(hangGuard):
		t.Fatal("agent Run did not return")
		return nil
	}
}

func waitJob(t *testing.T, f *realFarm, id string, ok func(*farm.Job) bool) *farm.Job {
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		if j := f.job(t, id); ok(j) {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s never got there: %+v", id, f.job(t, id))
	return nil
}

// An ephemeral builder runs one job, completes it and stops; the next job
// waits for another builder.
func TestEphemeralBuilderTakesOneJob(t *testing.T) {
	t.Parallel()
	f := newRealFarm(t)
	first, second := f.submit(t, "echo one"), f.submit(t, "echo two")
	cfg := testConfig(t, "default")
	cfg.Fleet.Ephemeral = true
	_, done := f.runAgent(t, cfg)
	if err := waitRun(t, done); err != nil {
		t.Fatalf("ephemeral agent: %v", err)
	}
	if j := f.job(t, first.ID); j.Status != farm.StatusSucceeded {
		t.Fatalf("its one job: %s", j.Status)
	}
	if j := f.job(t, second.ID); j.Status != farm.StatusQueued {
		t.Fatalf("the next job: %s, want still queued", j.Status)
	}
	cfg.Spec.Slots = 2
	if _, err := agent.New(cfg, nil, nil); err == nil {
		t.Fatal("an ephemeral builder with 2 slots was accepted")
	}
}

// spot is an interruption source the test sets off.
type spot struct{ notice chan string }

func (s spot) Notice(context.Context) (string, error) {
	select {
	case n := <-s.notice:
		return n, nil
	default:
		return "", nil
	}
}

// A spot interruption notice hands the running job back at once (queued
// again, attempt not counted, the reason in its history) and drains.
func TestSpotNoticeHandsJobsBack(t *testing.T) {
	t.Parallel()
	f := newRealFarm(t)
	j := f.submit(t, "sleep 60")
	cfg := testConfig(t, "default")
	s := spot{notice: make(chan string, 1)}
	cfg.Fleet.Interruptions, cfg.Fleet.InterruptionPoll = s, 20*time.Millisecond
	_, done := f.runAgent(t, cfg)
	waitJob(t, f, j.ID, func(j *farm.Job) bool { return j.Status == farm.StatusRunning })
	s.notice <- `spot instance-action {"action":"terminate","time":"2026-11-23T12:02:00Z"}`
	back := waitJob(t, f, j.ID, func(j *farm.Job) bool { return j.Status == farm.StatusQueued })
	if back.Attempts != 0 || back.NotBefore != nil {
		t.Fatalf("handed back %+v: want the attempt not counted and no hold-back", back)
	}
	if err := waitRun(t, done); err != nil {
		t.Fatalf("interrupted agent: %v", err)
	}
	evs, _ := f.store.JobEvents(context.Background(), j.ID)
	if last := evs[len(evs)-1]; !strings.Contains(last.Detail, "spot instance-action") || last.To != farm.StatusQueued {
		t.Fatalf("history %+v", last)
	}
}

// The spot notice comes from the instance metadata service (IMDSv2).
func TestSpotNoticesFromInstanceMetadata(t *testing.T) {
	t.Parallel()
	signer, err := instanceauthtest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	m := signer.NewIMDS(instanceauthtest.Document{InstanceID: "i-0spot"})
	defer m.Close()
	s := agent.NewSpotNotices(m.URL)
	if n, err := s.Notice(context.Background()); n != "" || err != nil {
		t.Fatalf("no notice yet: %q %v", n, err)
	}
	m.Interrupt("terminate", time.Date(2026, 11, 23, 12, 2, 0, 0, time.UTC))
	if n, err := s.Notice(context.Background()); !strings.Contains(n, `"action":"terminate"`) || err != nil {
		t.Fatalf("notice %q %v", n, err)
	}
}

// A reset builder runs its reset command after each job and registers
// again, clean.
func TestResetCommandBetweenJobs(t *testing.T) {
	t.Parallel()
	f := newRealFarm(t)
	marks := filepath.Join(t.TempDir(), "resets")
	cfg := testConfig(t, "default")
	cfg.Fleet.ResetCommand = "echo reset >> " + marks
	a, _ := f.runAgent(t, cfg)
	for _, s := range []string{"echo one", "echo two"} {
		j := f.submit(t, s)
		waitJob(t, f, j.ID, func(j *farm.Job) bool { return j.Status == farm.StatusSucceeded })
	}
	deadline := time.Now().Add(hangGuard)
	for {
		b, _ := os.ReadFile(marks)
		if strings.Count(string(b), "reset") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resets: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := f.store.GetBuilder(context.Background(), cfg.Name)
	if err != nil || b.CleanStatus != farm.CleanClean {
		t.Fatalf("builder after resets: %+v %v", b, err)
	}
	a.Drain()
}
