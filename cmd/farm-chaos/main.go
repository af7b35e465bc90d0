// Command farm-chaos is the soak test of buildfarm under AWS faults: the
// whole local farm with real farm-builder processes, every AWS call of
// which (the API's, the dispatcher's, the reaper's, the agents') goes
// through a fault-injecting proxy in front of moto_server. It submits N
// jobs under throttling, 500s, answers lost after the write was applied,
// latency spikes and an outage, then checks the farm's promises through
// its API and prints a report: jobs accepted, succeeded, lost, duplicated,
// 500s and 503s answered, the faults injected, throughput and every broken
// promise. It exits 1 when a promise broke, 2 on bad flags or when it
// cannot run. Bounded in jobs and time, loopback only; scripts/chaos runs
// it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/faultfarm"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "farm-chaos:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := soak(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "farm-chaos:", err)
		return 2
	}
	res.Write(stdout)
	if len(res.Violations) > 0 {
		return 1
	}
	return 0
}

// soak runs the farm under o's faults and checks it.
func soak(ctx context.Context, o *options, stdout, stderr io.Writer) (*faultfarm.Result, error) {
	runCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	emu, err := o.emulator(runCtx, stderr)
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	top, err := topology.New("chaos"+strings.ToLower(farm.NewSecret(4)), []string{farm.DefaultPool})
	if err != nil {
		return nil, err
	}
	awsCfg, err := emu.Config(runCtx)
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if err := provision.Destroy(dctx, awsCfg, top); err != nil {
			fmt.Fprintln(stderr, "farm-chaos: cleaning up the topology:", err)
		}
	}()
	f, err := faultfarm.Start(runCtx, faultfarm.Options{
		EmulatorURL: emu.URL, Topology: top, BuilderBin: o.builderBin, Builders: o.builders, Slots: o.slots,
		Policy:     farm.Policy{Heartbeat: o.heartbeat, Lease: o.lease, RequeueBackoff: 100 * time.Millisecond},
		BuilderEnv: emu.Env(),
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		f.Stop()
		if o.logs != "" {
			_ = os.WriteFile(o.logs, []byte(f.FarmLog()+"\n"+f.BuilderLogs()), 0o644)
		}
	}()
	spec, err := o.spec()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "farm-chaos: %d jobs (%v each, one every %v) through %d builders × %d slots; heartbeat %v, lease %v; seed %d\n",
		o.jobs, o.sleep, o.every, o.builders, o.slots, o.heartbeat, o.lease, spec.Seed)
	for _, r := range spec.Rules {
		fmt.Fprintf(stdout, "  fault %s at %.1f%% on %s.%s\n", r.Fault, 100*r.Rate, orAll(r.Service), orAll(r.Operation))
	}
	for _, w := range spec.Outages {
		fmt.Fprintf(stdout, "  outage (%s) of %v after %v on %s\n", orAll(string(w.Mode)), w.Duration.D(), w.After.D(), orAll(strings.Join(w.Services, ",")))
	}
	if err := f.Proxy.SetSpec(spec); err != nil {
		return nil, err
	}
	start := time.Now()
	subs := f.Run(runCtx, faultfarm.Workload{Jobs: o.jobs, Every: o.every, Sleep: o.sleep, Concurrency: o.concurrency})
	fmt.Fprintf(stdout, "farm-chaos: submitted in %v; waiting for the jobs\n", time.Since(start).Round(time.Millisecond))
	left := f.WaitEnded(runCtx, subs, o.timeout)
	fmt.Fprintf(stdout, "farm-chaos: %d jobs not ended %v after the start; faults off\n", len(left), time.Since(start).Round(time.Millisecond))

	// The checks read through the farm's own dependencies: faults off, and
	// time of their own even when the run used all of its.
	checkCtx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer ccancel()
	if err := f.Calm(checkCtx); err != nil {
		return nil, err
	}
	if len(left) > 0 {
		f.WaitEnded(checkCtx, subs, 2*o.lease+30*time.Second)
	}
	res, err := f.Check(checkCtx, subs)
	if err != nil {
		return nil, err
	}
	res.Violations = append(res.Violations, f.Probe(checkCtx, "chaos-probe", 2*o.lease+30*time.Second)...)
	fmt.Fprintf(stdout, "farm-chaos: done in %v\n\n", time.Since(start).Round(time.Millisecond))
	return res, nil
}

func orAll(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// emulator returns the emulator named by -emulator, or starts moto_server
// on a free loopback port (its log in -logs' directory when given).
func (o *options) emulator(ctx context.Context, stderr io.Writer) (*emulator.Emulator, error) {
	if o.emulatorURL != "" {
		return &emulator.Emulator{URL: o.emulatorURL}, nil
	}
	fmt.Fprintln(stderr, "farm-chaos: starting moto_server")
	return emulator.Start(ctx, "127.0.0.1:0", nil)
}
