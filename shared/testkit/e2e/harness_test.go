package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

var builderBin, localBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builderBin = filepath.Join(dir, "farm-builder")
	localBin = filepath.Join(dir, "farm-local")
	build := exec.Command("go", "build", "-o", dir, "github.com/buildfarm/buildfarm/cmd/farm-builder", "github.com/buildfarm/buildfarm/cmd/farm-local")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building farm-builder and farm-local:", err)
		os.Exit(1)
	}
	code := emulatortest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// Timing of the e2e farm: short, so that leases expire within the test.
const (
	heartbeat = 2 * time.Second
	lease     = 3 * heartbeat
	// backoff holds a requeued job back; its doorbell rings when it ends
	// (SQS delays round up to a second).
	backoff = 10 * time.Millisecond
)

type testFarm struct {
	*wiring.Local
	admin *client.Client
}

func startFarm(t *testing.T) *testFarm {
	t.Helper()
	return startFarmWith(t, farm.Policy{
		Heartbeat: heartbeat, Lease: lease, RequeueBackoff: backoff,
		// Kills in these tests are the test's doing, not the builders' fault.
		BuilderMaxFailures: 100,
	})
}

// startFarmWith starts a local farm with policy.
func startFarmWith(t *testing.T, policy farm.Policy) *testFarm {
	t.Helper()
	top, cfg, _ := emulatortest.Topology(t)
	farmLog := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- farm log (warnings and errors) ---\n%s", farmLog.String())
		}
	})
	lf, err := wiring.StartLocal(context.Background(), wiring.LocalConfig{
		Addr:           "127.0.0.1:0",
		AWS:            &cfg,
		Farm:           wiring.Config{Topology: top, Policy: policy},
		ReaperInterval: 250 * time.Millisecond,
		Logger:         slog.New(slog.NewJSONHandler(farmLog, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lf.Stop)
	admin, err := client.New(lf.URL, lf.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	return &testFarm{Local: lf, admin: admin}
}

// syncBuffer is a log sink shared by goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// builderProc is a farm-builder process in its own process group.
type builderProc struct {
	name      string
	cmd       *exec.Cmd
	log       syncBuffer
	workDir   string
	tokenFile string
}

func (f *testFarm) startBuilder(t *testing.T, name string, slots int, pools string) *builderProc {
	t.Helper()
	ctx := context.Background()
	tok, err := f.admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleBuilder), Builder: name})
	if err != nil {
		t.Fatal(err)
	}
	// The token as the install paths keep it: mode 0600 in a directory only
	// root reads.
	secrets := filepath.Join(t.TempDir(), "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(secrets, "token")
	if err := os.WriteFile(tokenFile, []byte(tok.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	cmd := exec.Command(builderBin)
	cmd.Env = append(os.Environ(), emulatortest.Emulator(t).Env()...)
	cmd.Env = append(cmd.Env,
		"FARM_API="+f.URL, "FARM_TOKEN_FILE="+tokenFile, "FARM_BUILDER="+name, "FARM_POOLS="+pools,
		fmt.Sprintf("FARM_SLOTS=%d", slots), "FARM_KIND=metal", "FARM_WORK_DIR="+workDir,
		"FARM_KILL_GRACE=1s", "FARM_LOG_LEVEL=debug")
	b := &builderProc{name: name, cmd: cmd, workDir: workDir, tokenFile: tokenFile}
	cmd.Stdout, cmd.Stderr = &b.log, &b.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.signal(syscall.SIGCONT)
		b.signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- log of builder %s ---\n%s", name, b.log.String())
		}
	})
	return b
}

// signal sends sig to the agent's process group (the agent; its jobs run in
// process groups of their own).
func (b *builderProc) signal(sig syscall.Signal) {
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, sig)
	}
}

func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
