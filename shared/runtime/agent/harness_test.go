package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	if code == 0 {
		// Idle keep-alive connections of the SDK's and the test clients' HTTP
		// transports are not leaks of the agent; everything else must be gone.
		if err := goleak.Find(
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// hangGuard bounds waits for things that must happen; never a performance check.
const hangGuard = 30 * time.Second

// testEnv is the jobs' environment: reproducible, with no FARM_* leaking in.
var testEnv = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C"}

// harness is one agent running against a fake farm and fake doorbells.
type harness struct {
	t     *testing.T
	farm  *fakeFarm
	bells agent.Doorbells
	agent *agent.Agent
	cfg   agent.Config
	stop  context.CancelFunc
	done  chan error
}

func testConfig(t *testing.T, pools ...string) agent.Config {
	return agent.Config{
		Name:    "builder-1",
		Spec:    farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: pools, Slots: 1},
		WorkDir: t.TempDir(),
		// The agent's own logic, with jobs in process groups as the test's
		// user: how jobs are isolated is shared/executor's and the e2e
		// tests' subject (and these jobs talk to the test through its files).
		Executors:         executor.NewSet(nil, executor.Options{KillGrace: 500 * time.Millisecond, BaseEnv: testEnv, Isolation: &executor.Isolation{}}),
		Logger:            slog.New(slog.NewJSONHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		IdleClaimInterval: 400 * time.Millisecond,
		BackoffMin:        10 * time.Millisecond,
		BackoffMax:        200 * time.Millisecond,
	}
}

// start runs an agent of cfg (see testConfig) until the test ends.
func start(t *testing.T, f *fakeFarm, b agent.Doorbells, cfg agent.Config) *harness {
	t.Helper()
	c, err := client.New(f.srv.URL, "builder-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.HTTPClient().CloseIdleConnections)
	a, err := agent.New(cfg, c, b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, farm: f, bells: b, agent: a, cfg: cfg, stop: cancel, done: make(chan error, 1)}
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(hangGuard):
			t.Error("agent did not stop")
		}
	})
	return h
}

// drain drains the agent and waits for Run to return.
func (h *harness) drain() error {
	h.t.Helper()
	h.agent.Drain()
	return h.wait()
}

func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(hangGuard):
		h.t.Fatal("agent Run did not return")
		return nil
	}
}

// waitForFile waits until path holds a complete line and returns it.
func waitForFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

// waitGone waits until a process no longer runs (gone, or a zombie nobody reaps).
func waitGone(t *testing.T, pidText string) {
	t.Helper()
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(hangGuard)
	for {
		b, err := os.ReadFile("/proc/" + pidText + "/stat")
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
