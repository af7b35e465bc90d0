package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

const throughputDefinition = "no-op script jobs (sh -c true) submitted by 2 concurrent clients as fast as the API " +
	"takes them, to builders (separate farm-builder processes) of the shape shown; jobs/s = jobs / (first submit " +
	"start -> last completion answered). Floor: the same number of jobs through PutItem + SendMessage by 2 " +
	"producers, received by as many long-polling workers as the farm has slots, each doing a conditional " +
	"UpdateItem claim, DeleteMessage and a conditional UpdateItem completion"

// shape is a builder set: builders × slots each.
type shape struct{ Builders, Slots int }

func (s shape) String() string { return fmt.Sprintf("%dx%d", s.Builders, s.Slots) }

// ThroughputRun is one shape's figures.
type ThroughputRun struct {
	Shape           string  `json:"shape"`
	Builders        int     `json:"builders"`
	Slots           int     `json:"slots_per_builder"`
	Jobs            int     `json:"jobs"`
	Completed       int     `json:"completed"`
	WallSeconds     float64 `json:"wall_seconds"`
	JobsPerSecond   float64 `json:"buildfarm_jobs_per_second"`
	FloorWall       float64 `json:"floor_wall_seconds"`
	FloorJobsPerSec float64 `json:"floor_jobs_per_second"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	// ClaimsEmpty counts claims answered 204 (woken by a doorbell whose job
	// another claim or sweep had taken).
	Claims int64 `json:"claims"`
	// EmulatorCallsPerSecond is every AWS call of the window (farm, agents,
	// background) per second; the floor's likewise. When both are near the
	// same number, the emulator is the bottleneck and the throughput ratio is
	// about the ratio of calls per job.
	EmulatorCallsPerSecond      float64 `json:"emulator_calls_per_second"`
	FloorEmulatorCallsPerSecond float64 `json:"floor_emulator_calls_per_second"`
	ClaimsEmpty                 int64   `json:"claims_empty"`
	// TimePerJob: API handler time and AWS call time by service, per phase, ms per job.
	TimePerJob map[string]map[string]float64 `json:"time_per_job_ms"`
	// OpLatency: per AWS operation of the job phases, calls per job and mean ms.
	OpLatency      map[string]OpLatency `json:"aws_op_latency"`
	FloorOpLatency map[string]OpLatency `json:"floor_aws_op_latency"`
	Incomplete     bool                 `json:"incomplete,omitempty"`
	// DoorbellsInFlight: see LatencyResult.
	DoorbellsInFlight int `json:"doorbells_in_flight_at_end"`

	calls   awscalls.Calls
	routes  map[string]RouteStat
	seconds float64
}

func (r *rig) throughput(ctx context.Context, p plan, sh shape) (*ThroughputRun, error) {
	name := "tput-" + sh.String()
	fr, err := r.startFarm(ctx, name, farm.Policy{})
	if err != nil {
		return nil, err
	}
	defer fr.stop()
	if err := fr.startAgents(ctx, sh.Builders, sh.Slots); err != nil {
		return nil, err
	}
	run := &ThroughputRun{Shape: sh.String(), Builders: sh.Builders, Slots: sh.Slots, Jobs: p.throughputJobs}

	// The floor first, while the farm's agents wait in their long polls.
	fl, err := r.startFloor(ctx, name, sh.Builders*sh.Slots, true, p.throughputJobs)
	if err != nil {
		return nil, err
	}
	floorBefore := fl.snapshot()
	fwall, err := fl.throughput(ctx, p.throughputJobs, 2)
	floorCalls := fl.snapshot().Sub(floorBefore)
	fl.stop()
	if err != nil {
		return nil, err
	}
	run.FloorWall = round(fwall.Seconds(), 3)
	run.FloorJobsPerSec = round(float64(p.throughputJobs)/fwall.Seconds(), 2)
	run.FloorOpLatency = opLatencies(floorCalls, p.throughputJobs, []string{"floor"})
	run.FloorEmulatorCallsPerSecond = round(float64(floorCalls.Total(func(k awscalls.Key) bool { return k.Phase != phaseIdlePoll }).Calls)/fwall.Seconds(), 1)

	callsBefore, routesBefore, began := fr.calls.Snapshot(), fr.obs.routeSnapshot(), time.Now()
	ids, start, err := submitMany(ctx, fr, p.throughputJobs, 2)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, p.throughputTimeout)
	err = fr.obs.waitUntil(wctx, func(o *observer) bool { return o.completedCount(ids) == len(ids) })
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	run.Incomplete = err != nil
	fr.obs.mu.Lock()
	run.Completed = fr.obs.completedCount(ids)
	fr.obs.mu.Unlock()
	end := fr.obs.lastCompletion(ids)
	notIdle := func(k awscalls.Key) bool { return k.Phase != phaseIdlePoll }
	windowCalls := fr.farmPhases(fr.calls.Snapshot().Sub(callsBefore)).Total(notIdle).Calls
	if run.Completed == 0 {
		return nil, fmt.Errorf("%s: no job completed within %s", name, p.throughputTimeout)
	}
	run.WallSeconds = round(end.Sub(start).Seconds(), 3)
	run.JobsPerSecond = round(float64(run.Completed)/end.Sub(start).Seconds(), 2)
	run.ThroughputRatio = Ratio(run.JobsPerSecond, run.FloorJobsPerSec)

	if run.DoorbellsInFlight, _, err = fr.waitQueueEmpty(ctx, fr.doorbellQueue(), 5*time.Second, true); err != nil {
		return nil, err
	}
	run.seconds = time.Since(began).Seconds()
	agents, err := fr.stopAgents()
	if err != nil {
		return nil, err
	}
	run.calls = awscalls.Merge(fr.farmPhases(fr.calls.Snapshot().Sub(callsBefore)), fr.agentPhases(agents))
	run.routes = subRoutes(fr.obs.routeSnapshot(), routesBefore)
	if c, ok := run.routes["POST /v1/builders/{name}/claim"]; ok {
		run.Claims, run.ClaimsEmpty = c.Requests, c.NoContent
	}
	run.TimePerJob = timePerJob(run.calls, run.routes, run.Completed)
	// The farm's calls between the first submit and the last completion,
	// and the agents' (all made in that window but for a few at start-up
	// and shutdown); empty long polls left out, as for the floor.
	windowCalls += fr.agentPhases(agents).Total(notIdle).Calls
	run.EmulatorCallsPerSecond = round(float64(windowCalls)/end.Sub(start).Seconds(), 1)
	run.OpLatency = opLatencies(run.calls, run.Completed, jobPhases)
	return run, nil
}

// submitMany submits n no-op jobs from clients goroutines; it returns their
// ids and when the first submission started.
func submitMany(ctx context.Context, fr *farmRun, n, clients int) (map[string]bool, time.Time, error) {
	var (
		mu   sync.Mutex
		ids  = map[string]bool{}
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, clients)
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				job, _, err := fr.submit.SubmitJob(ctx, noopJob(), "")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ids[job.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, start, fmt.Errorf("submit: %w", err)
	}
	return ids, start, nil
}
