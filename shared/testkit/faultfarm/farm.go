// Package faultfarm runs the whole local farm (shared/localfarm: API,
// dispatcher, reaper, ingest) with real farm-builder processes, all of
// whose AWS traffic goes through a fault-injecting proxy
// (shared/faultproxy) in front of the emulator. A workload submits jobs
// whose scripts count their own runs; the farm's promises are then checked
// through its API (shared/farmcheck). The fault scenarios of the test suite
// and the soak (cmd/farm-chaos, scripts/chaos) are built on it.
//
// It talks to the farm only through AWS wire traffic, the HTTP API and
// process boundaries, so it keeps working whatever the store and scheduler
// look like inside.
package faultfarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/farmcheck"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// Options configure a farm under faults.
type Options struct {
	// EmulatorURL is the emulator the proxy forwards to.
	EmulatorURL string
	// Topology names the farm's tables, queues and bucket; they are
	// provisioned (through the proxy, before any fault) if missing.
	Topology *topology.Topology
	// BuilderBin is a built cmd/farm-builder.
	BuilderBin string
	// Builders agents of Slots slots each serve the default pool (2 × 2).
	Builders, Slots int
	// Policy is the farm's timing (heartbeat, lease, backoffs).
	Policy farm.Policy
	// ReaperInterval is how often the reaper runs (default: a third of the lease).
	ReaperInterval time.Duration
	// BuilderEnv is added to the agents' environment (credentials, region);
	// their AWS_ENDPOINT_URL is always the proxy.
	BuilderEnv []string
	// Logger receives the farm's logs (default: warnings and errors kept for
	// FarmLog).
	Logger *slog.Logger
}

// Farm is a running farm under faults.
type Farm struct {
	Proxy *faultproxy.Proxy
	Local *wiring.Local
	// Admin sends each request once (no retries): checks see the farm as is.
	Admin *client.Client
	// Submitter retries like farmctl, but long enough to ride out an outage.
	Submitter *client.Client
	Answers   *farmcheck.Answers
	// RunsDir is where the workload's scripts count their runs.
	RunsDir  string
	Builders []string

	opts    Options
	farmLog *syncBuffer
	procs   []*builderProc
}

// SubmitRetry is the submitter's policy: farmctl's, with more attempts.
var SubmitRetry = client.RetryPolicy{Attempts: 60, Base: 100 * time.Millisecond, Max: 2 * time.Second}

// Start runs the farm, its proxy (with no faults yet) and its agents, and
// returns once every agent has registered.
func Start(ctx context.Context, opts Options) (*Farm, error) {
	if opts.BuilderBin == "" || opts.EmulatorURL == "" || opts.Topology == nil {
		return nil, errors.New("faultfarm: EmulatorURL, Topology and BuilderBin are required")
	}
	if opts.Builders == 0 {
		opts.Builders = 2
	}
	if opts.Slots == 0 {
		opts.Slots = 2
	}
	f := &Farm{opts: opts, Answers: &farmcheck.Answers{}, farmLog: &syncBuffer{}}
	ok := false
	defer func() {
		if !ok {
			f.Stop()
		}
	}()
	var err error
	if f.Proxy, err = faultproxy.Start(opts.EmulatorURL, faultproxy.Options{}); err != nil {
		return nil, err
	}
	awsCfg, err := (&emulator.Emulator{URL: f.Proxy.URL}).Config(ctx)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(f.farmLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	f.Local, err = wiring.StartLocal(ctx, wiring.LocalConfig{
		Addr:           "127.0.0.1:0",
		AWS:            &awsCfg,
		Farm:           wiring.Config{Topology: opts.Topology, Policy: opts.Policy},
		ReaperInterval: opts.ReaperInterval,
		WrapAPI:        f.Answers.Wrap,
		Logger:         logger,
	})
	if err != nil {
		return nil, err
	}
	if f.Admin, err = client.New(f.Local.URL, f.Local.AdminToken); err != nil {
		return nil, err
	}
	if f.Submitter, err = client.New(f.Local.URL, f.Local.AdminToken, client.WithRetry(SubmitRetry)); err != nil {
		return nil, err
	}
	if f.RunsDir, err = os.MkdirTemp("", "faultfarm-runs-"); err != nil {
		return nil, err
	}
	// Jobs may run as an unprivileged job user: let them write here.
	if err := os.Chmod(f.RunsDir, 0o777); err != nil {
		return nil, err
	}
	for i := range opts.Builders {
		if err := f.startBuilder(ctx, fmt.Sprintf("chaos-%d", i+1)); err != nil {
			return nil, err
		}
	}
	if err := f.waitRegistered(ctx); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

func (f *Farm) waitRegistered(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		bs, err := f.Admin.ListBuilders(ctx)
		if err == nil && len(bs) >= len(f.Builders) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faultfarm: %d builders registered after a minute, want %d (%v)\n%s", len(bs), len(f.Builders), err, f.BuilderLogs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// builderProc is a farm-builder process in its own process group.
type builderProc struct {
	name string
	cmd  *exec.Cmd
	log  syncBuffer
	done chan struct{}
}

func (f *Farm) startBuilder(ctx context.Context, name string) error {
	tok, err := f.Admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleBuilder), Builder: name})
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "faultfarm-"+name+"-")
	if err != nil {
		return err
	}
	cmd := exec.Command(f.opts.BuilderBin)
	for _, kv := range append(os.Environ(), f.opts.BuilderEnv...) {
		if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL") && !strings.HasPrefix(kv, "FARM_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, f.Proxy.Env()...)
	cmd.Env = append(cmd.Env,
		"FARM_API="+f.Local.URL, "FARM_TOKEN="+tok.Token, "FARM_BUILDER="+name, "FARM_POOLS="+farm.DefaultPool,
		fmt.Sprintf("FARM_SLOTS=%d", f.opts.Slots), "FARM_KIND=metal", "FARM_WORK_DIR="+work,
		"FARM_KILL_GRACE=1s", "FARM_LOG_LEVEL=debug")
	b := &builderProc{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &b.log, &b.log
	// Its own process group; killed if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(work)
		return err
	}
	go func() {
		cmd.Wait()
		os.RemoveAll(work)
		close(b.done)
	}()
	f.procs = append(f.procs, b)
	f.Builders = append(f.Builders, name)
	return nil
}

// Stop ends the agents (drain, then hard), the farm and the proxy.
func (f *Farm) Stop() {
	for _, b := range f.procs {
		if b.cmd.Process != nil {
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM) // second signal: stop hard
		}
	}
	for _, b := range f.procs {
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	}
	if f.Local != nil {
		f.Local.Stop()
	}
	if f.Proxy != nil {
		f.Proxy.Close()
	}
	if f.RunsDir != "" {
		os.RemoveAll(f.RunsDir)
	}
}

// FarmLog is the farm's warnings and errors (JSON lines), unless
// Options.Logger took them.
func (f *Farm) FarmLog() string { return f.farmLog.String() }

// BuilderLogs is every agent's output.
func (f *Farm) BuilderLogs() string {
	var b strings.Builder
	for _, p := range f.procs {
		fmt.Fprintf(&b, "--- builder %s ---\n%s\n", p.name, p.log.String())
	}
	return b.String()
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
