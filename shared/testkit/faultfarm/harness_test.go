package faultfarm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/farmcheck"
	"github.com/buildfarm/buildfarm/shared/testkit/faultfarm"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

var builderBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faultfarm-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builderBin = filepath.Join(dir, "farm-builder")
	build := exec.Command("go", "build", "-o", builderBin, "github.com/buildfarm/buildfarm/cmd/farm-builder")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faultfarm: building farm-builder:", err)
		os.Exit(1)
	}
	code := emulatortest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// Timing of the scenarios' farm: a lease several times longer than the
// outages the scenarios cause, so that a healthy builder's lease outlives
// them.
const (
	heartbeat = time.Second
	lease     = 10 * time.Second
)

func startFarm(t *testing.T) *faultfarm.Farm {
	t.Helper()
	top, _, _ := emulatortest.Topology(t, "default")
	emu := emulatortest.Emulator(t)
	f, err := faultfarm.Start(context.Background(), faultfarm.Options{
		EmulatorURL: emu.URL,
		Topology:    top,
		BuilderBin:  builderBin,
		Builders:    2,
		Slots:       2,
		Policy: farm.Policy{Heartbeat: heartbeat, Lease: lease, RequeueBackoff: 10 * time.Millisecond,
			// Blame is checked, not acted on: keep builders enabled.
			BuilderMaxFailures: 100},
		ReaperInterval: 500 * time.Millisecond,
		BuilderEnv:     emu.Env(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- farm log (warnings and errors) ---\n%s", tail(f.FarmLog(), 100))
			t.Logf("%s", tail(f.BuilderLogs(), 200))
		}
		f.Stop()
	})
	return f
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// run puts the farm under spec, submits the workload, lets outages end
// (calm), waits for the jobs and checks every promise.
func run(t *testing.T, f *faultfarm.Farm, spec faultproxy.Spec, w faultfarm.Workload) *faultfarm.Result {
	t.Helper()
	ctx := context.Background()
	if err := f.Proxy.SetSpec(spec); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	subs := f.Run(ctx, w)
	t.Logf("submitted %d jobs in %v", len(subs), time.Since(start).Round(time.Millisecond))
	// The workload's jobs end under the faults, within a bound the product
	// promises: each job's run plus a lease (a lost builder's job is back in
	// the queue within 2× the lease), with room for the queue.
	limit := 2*lease + time.Duration(w.Jobs)*(w.Sleep+time.Second)
	left := f.WaitEnded(ctx, subs, limit)
	t.Logf("jobs ended %v after the workload began (%d not within %v)", time.Since(start).Round(time.Millisecond), len(left), limit)
	if err := f.Calm(ctx); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		// Give stragglers the bound again without faults before judging.
		f.WaitEnded(ctx, subs, limit)
	}
	res, err := f.Check(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	res.Violations = append(res.Violations, f.Probe(ctx, "probe-"+t.Name(), 2*lease+10*time.Second)...)
	var b strings.Builder
	res.Write(&b)
	t.Logf("result:\n%s", b.String())
	return res
}

// holds fails t when promise was broken.
func holds(t *testing.T, res *faultfarm.Result, promise string) {
	t.Helper()
	if vs := res.Violations.Of(promise); len(vs) > 0 {
		var b strings.Builder
		vs.Write(&b, 10)
		t.Errorf("broken:\n%s", b.String())
	}
}

// everyPromise lists the promises every scenario checks.
var everyPromise = []string{
	farmcheck.PromiseAccepted, farmcheck.PromiseNotLost, farmcheck.PromiseTerminal, farmcheck.PromiseSucceeded,
	farmcheck.PromiseOnePerKey, farmcheck.PromiseRunOnce, farmcheck.PromiseClaimRuns, farmcheck.PromiseHistory,
	farmcheck.PromiseAnswers, farmcheck.PromiseCompletion, farmcheck.PromiseClaim, farmcheck.PromiseBuilders, farmcheck.PromiseRecovers,
}
