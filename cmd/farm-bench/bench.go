package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/smithy-go/logging"

	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// bench runs every scenario of p and returns the report. Everything it
// starts (emulator, farms, agents, functions) is stopped before it returns,
// on error and on ctx's end too. dir keeps logs; progress goes to progress.
func bench(ctx context.Context, p plan, bin *binaries, repo, dir string, progress io.Writer) (*Report, error) {
	began := time.Now()
	rep := &Report{Schema: 2, Environment: environment(p.mode), Git: gitState(repo), Prices: ListPrices, Notes: reportNotes, Lifecycle: map[string]*Lifecycle{}}
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "farm-bench %5.1fs: %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}

	logPath := filepath.Join(dir, "farm.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	r := &rig{dir: dir, bin: bin, logPath: logPath, logOut: &syncWriter{w: logFile},
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

	step("latency: %d rounds of %d samples, farm and both floors alternating", p.rounds, p.latencySamples)
	if rep.Latency, err = r.latency(ctx, p); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}

	rep.Throughput = &ThroughputResult{Definition: throughputDefinition}
	big := bigShape(p.shapes)
	for _, sh := range p.shapes {
		rounds := 1
		if sh == big {
			rounds = p.rounds
		}
		step("throughput %s: %d round(s) of %d jobs, each after both floors'", sh, rounds, p.throughputJobs)
		run, err := r.throughput(ctx, p, sh, rounds)
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

// summarize derives the per-job lifecycles and the headline figures: each
// the median of its rounds, with their spread in rep.Runs.
func summarize(rep *Report) {
	fire := rep.Lease.finalFire
	notes := []string{
		"lease_check: one final lease timer fire per job, counted in the lease scenario (none when the farm has no lease timers)",
		"figures pooled over the scenario's rounds; the headline figures are the median of the rounds' (headline_runs)",
	}
	l := rep.Latency
	var pooled share
	var idleRounds []Lifecycle
	for _, rd := range l.Rounds {
		lc := newLifecycle("latency round", rd.Buildfarm.N, share{window: rd.window, div: float64(rd.Buildfarm.N), keep: notLease}, fire)
		idleRounds = append(idleRounds, lc)
		pooled.window = mergeWindows(pooled.window, rd.window)
		pooled.div += float64(rd.Buildfarm.N)
	}
	pooled.keep = notLease
	idle := newLifecycle("latency", l.Buildfarm.N, pooled, fire)
	idle.Notes = notes
	rep.Lifecycle["idle"] = &idle

	runs := map[string]Spread{}
	spread := func(name string, f func(i int) float64, n int) float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = f(i)
		}
		runs[name] = SpreadOf(v)
		return runs[name].Median
	}
	nl := len(l.Rounds)
	rep.LatencyRatioP50 = spread("latency_ratio_p50", func(i int) float64 { return l.Rounds[i].LatencyRatioP50 }, nl)
	rep.LatencyRatioP90 = spread("latency_ratio_p90", func(i int) float64 { return l.Rounds[i].LatencyRatioP90 }, nl)
	rep.LatencyRatioP50LikeForLike = spread("latency_ratio_p50_like_for_like", func(i int) float64 { return l.Rounds[i].LatencyRatioP50LikeForLike }, nl)
	rep.LatencyRatioP99, rep.LatencyRatioP99LikeForLike = l.LatencyRatioP99, l.LatencyRatioP99LikeForLike
	rep.CallsPerJob = spread("calls_per_job", func(i int) float64 { return idleRounds[i].CallsPerJob }, nl)
	rep.USDPerMillionJobs = spread("usd_per_million_jobs", func(i int) float64 { return idleRounds[i].Cost.Total }, nl)
	rep.WriteRequestUnitsPerJob = spread("write_request_units_per_job", func(i int) float64 { return idleRounds[i].Usage.DynamoDBWriteUnits }, nl)

	var shapes []shape
	for _, run := range rep.Throughput.Runs {
		shapes = append(shapes, shape{run.Builders, run.Slots})
	}
	var big *ThroughputRun
	for _, run := range rep.Throughput.Runs {
		if (shape{run.Builders, run.Slots}) == bigShape(shapes) {
			big = run
		}
	}
	if big != nil {
		var satRounds []Lifecycle
		for _, rd := range big.Rounds {
			satRounds = append(satRounds, newLifecycle("throughput round", rd.Completed, share{window: rd.window, div: float64(rd.Completed), keep: notLease}, fire))
		}
		sat := newLifecycle("throughput "+big.Shape, big.Completed*len(big.Rounds), share{window: big.window, div: float64(big.Completed * len(big.Rounds)), keep: notLease}, fire)
		sat.Notes = notes
		rep.Lifecycle["saturated"] = &sat
		nb := len(big.Rounds)
		rep.ThroughputRatioShape = big.Shape
		rep.ThroughputRatio = spread("throughput_ratio", func(i int) float64 { return big.Rounds[i].ThroughputRatio }, nb)
		rep.ThroughputRatioLikeForLike = spread("throughput_ratio_like_for_like", func(i int) float64 { return big.Rounds[i].ThroughputRatioLikeForLike }, nb)
		rep.CallsPerJobSaturated = spread("calls_per_job_saturated", func(i int) float64 { return satRounds[i].CallsPerJob }, nb)
		rep.USDPerMillionJobsSaturated = spread("usd_per_million_jobs_saturated", func(i int) float64 { return satRounds[i].Cost.Total }, nb)
		// The table's "where the time goes" is for the shape with the most slots.
		tr := rep.Throughput.Runs
		for i, run := range tr {
			if run == big {
				tr[i], tr[len(tr)-1] = tr[len(tr)-1], tr[i]
			}
		}
	}
	for _, l := range rep.Lifecycle {
		l.PerRunningMinute, l.PerRunningMinuteCost = rep.Lease.PerRunningMinute, rep.Lease.CostPerMillionRunningMinutes
	}
	rep.USDPerMillionRunningMinutes = rep.Lease.CostPerMillionRunningMinutes.Total
	rep.Runs = runs
	rep.Targets = checkTargets(rep)
}

// mergeWindows adds two windows.
func mergeWindows(a, b window) window {
	return window{calls: awscalls.Merge(a.calls, b.calls), routes: addRoutes(a.routes, b.routes), logs: addLogs(a.logs, b.logs), seconds: a.seconds + b.seconds}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
