package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/smithy-go/logging"

	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
)

// bench runs every scenario of p and returns the report. Everything it
// starts (emulator, farms, agents, functions) is stopped before it returns,
// on error and on ctx's end too. dir keeps logs; progress goes to progress.
func bench(ctx context.Context, p plan, bin *binaries, dir string, progress io.Writer) (*Report, error) {
	began := time.Now()
	rep := &Report{Schema: 1, Environment: environment(p.mode), Prices: ListPrices, Notes: reportNotes, Lifecycle: map[string]*Lifecycle{}}
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "farm-bench %5.1fs: %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}

	logPath := filepath.Join(dir, "farm.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	r := &rig{dir: dir, bin: bin, logPath: logPath,
		log: slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))}

	step("starting a private moto_server")
	emuLog, err := os.Create(filepath.Join(dir, "moto.log"))
	if err != nil {
		return nil, err
	}
	defer emuLog.Close()
	if r.emu, err = emulator.Start(ctx, "127.0.0.1:0", emuLog); err != nil {
		return nil, err
	}
	defer r.emu.Stop()
	if r.aws, err = r.emu.Config(ctx); err != nil {
		return nil, err
	}
	// The SDK's own warnings (a connection closed while a farm stops) are noise here.
	r.aws.Logger = logging.Nop{}

	step("latency: %d samples, farm and floor alternating", p.latencySamples)
	if rep.Latency, err = r.latency(ctx, p); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	rep.LatencyRatioP50, rep.LatencyRatioP90, rep.LatencyRatioP99 = rep.Latency.LatencyRatioP50, rep.Latency.LatencyRatioP90, rep.Latency.LatencyRatioP99

	rep.Throughput = &ThroughputResult{Definition: throughputDefinition}
	for _, sh := range p.shapes {
		step("throughput %s: %d jobs, then the floor's", sh, p.throughputJobs)
		run, err := r.throughput(ctx, p, sh)
		if err != nil {
			return nil, fmt.Errorf("throughput %s: %w", sh, err)
		}
		rep.Throughput.Runs = append(rep.Throughput.Runs, run)
	}

	step("lease: heartbeats and lease timers of one running job")
	if rep.Lease, err = r.lease(ctx, p); err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}

	step("priority: %d mixed jobs behind 2 busy builders", p.priorityJobs)
	if rep.Priority, err = r.priority(ctx, p); err != nil {
		return nil, fmt.Errorf("priority: %w", err)
	}
	rep.PriorityFractionHighestFirst = rep.Priority.FractionHighestFirst

	step("cold start: %d start(s) of each function", p.coldStarts)
	if rep.ColdStart, err = r.coldStart(ctx, p); err != nil {
		return nil, fmt.Errorf("cold start: %w", err)
	}

	summarize(rep)
	rep.Environment.LoadAvgEnd = loadAvg()
	rep.Environment.Seconds = round(time.Since(began).Seconds(), 1)
	step("done")
	return rep, nil
}

// summarize derives the per-job lifecycles and the headline figures.
func summarize(rep *Report) {
	fire := rep.Lease.finalFire
	l := rep.Latency
	idle := newLifecycle("latency", l.Buildfarm.N, l.seconds, share{calls: l.calls, routes: l.routes, div: float64(l.Buildfarm.N)}, fire)
	idle.Notes = []string{"lease_check: one final lease timer fire per job, counted in the lease scenario"}
	rep.Lifecycle["idle"] = &idle

	var big *ThroughputRun
	for _, run := range rep.Throughput.Runs {
		if big == nil || run.Builders*run.Slots > big.Builders*big.Slots ||
			(run.Builders*run.Slots == big.Builders*big.Slots && run.Builders > big.Builders) {
			big = run
		}
	}
	if big != nil {
		sat := newLifecycle("throughput "+big.Shape, big.Completed, big.seconds, share{calls: big.calls, routes: big.routes, div: float64(big.Completed)}, fire)
		sat.Notes = idle.Notes
		rep.Lifecycle["saturated"] = &sat
		rep.ThroughputRatio, rep.ThroughputRatioShape = big.ThroughputRatio, big.Shape
		rep.CallsPerJobSaturated, rep.USDPerMillionJobsSaturated = sat.CallsPerJob, sat.Cost.Total
		// The table's "where the time goes" is for the shape with the most slots.
		runs := rep.Throughput.Runs
		for i, run := range runs {
			if run == big {
				runs[i], runs[len(runs)-1] = runs[len(runs)-1], runs[i]
			}
		}
	}
	for _, l := range rep.Lifecycle {
		l.PerRunningMinute, l.PerRunningMinuteCost = rep.Lease.PerRunningMinute, rep.Lease.CostPerMillionRunningMinutes
	}
	rep.CallsPerJob, rep.USDPerMillionJobs = idle.CallsPerJob, idle.Cost.Total
	rep.USDPerMillionRunningMinutes = rep.Lease.CostPerMillionRunningMinutes.Total
}
