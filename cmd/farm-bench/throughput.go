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
	"start -> last completion answered). Minimal floor: the same number of jobs through PutItem + SendMessage by 2 " +
	"producers, received by as many long-polling workers as the farm has slots, each doing a conditional " +
	"UpdateItem claim, DeleteMessage and a conditional UpdateItem completion. Like-for-like floor: the same with " +
	"a Query of a sparse dispatch index picking the job before the claim, the index keys removed by the claim, " +
	"the receivers reaching SQS through a counting proxy as the agents do. The shape with the most slots runs " +
	"several rounds (each: both floors, then the farm); its ratios are the median of the rounds'"

// shape is a builder set: builders × slots each.
type shape struct{ Builders, Slots int }

func (s shape) String() string { return fmt.Sprintf("%dx%d", s.Builders, s.Slots) }

// bigShape is the shape with the most slots (more builders on a tie): the
// headline throughput's.
func bigShape(shapes []shape) shape {
	var big shape
	for _, sh := range shapes {
		if sh.Builders*sh.Slots > big.Builders*big.Slots || (sh.Builders*sh.Slots == big.Builders*big.Slots && sh.Builders > big.Builders) {
			big = sh
		}
	}
	return big
}

// ThroughputRun is one shape's figures: per round, and pooled over its
// rounds (the medians of the rounds for the jobs/s and ratios).
type ThroughputRun struct {
	Shape    string `json:"shape"`
	Builders int    `json:"builders"`
	Slots    int    `json:"slots_per_builder"`
	// Jobs and Completed are per round.
	Jobs                       int                `json:"jobs"`
	Completed                  int                `json:"completed"`
	JobsPerSecond              float64            `json:"buildfarm_jobs_per_second"`
	FloorJobsPerSec            float64            `json:"floor_jobs_per_second"`
	FloorLikeForLikeJobsPerSec float64            `json:"floor_like_for_like_jobs_per_second"`
	ThroughputRatio            float64            `json:"throughput_ratio"`
	ThroughputRatioLikeForLike float64            `json:"throughput_ratio_like_for_like"`
	Rounds                     []*ThroughputRound `json:"rounds"`
	// Claims and ClaimsEmpty (answered 204: woken by a doorbell whose job
	// another claim or sweep had taken) sum the rounds.
	Claims      int64 `json:"claims"`
	ClaimsEmpty int64 `json:"claims_empty"`
	// EmulatorCallsPerSecond is every AWS call of the rounds' windows (farm,
	// agents, background) per second; the floors' likewise. When they are
	// near the same number, the emulator is the bottleneck and the
	// throughput ratio is about the ratio of calls per job.
	EmulatorCallsPerSecond                 float64 `json:"emulator_calls_per_second"`
	FloorEmulatorCallsPerSecond            float64 `json:"floor_emulator_calls_per_second"`
	FloorLikeForLikeEmulatorCallsPerSecond float64 `json:"floor_like_for_like_emulator_calls_per_second"`
	// TimePerJob: API handler time and AWS call time by service, per phase, ms per job.
	TimePerJob map[string]map[string]float64 `json:"time_per_job_ms"`
	// OpLatency: per AWS operation of the job phases, calls per job and mean ms.
	OpLatency                 map[string]OpLatency `json:"aws_op_latency"`
	FloorOpLatency            map[string]OpLatency `json:"floor_aws_op_latency"`
	FloorLikeForLikeOpLatency map[string]OpLatency `json:"floor_like_for_like_aws_op_latency"`
	Incomplete                bool                 `json:"incomplete,omitempty"`
	// DoorbellsInFlight: see LatencyResult (at the end of the last round).
	DoorbellsInFlight int `json:"doorbells_in_flight_at_end"`

	window
}

// ThroughputRound is one round of a shape.
type ThroughputRound struct {
	Completed                  int     `json:"completed"`
	WallSeconds                float64 `json:"wall_seconds"`
	JobsPerSecond              float64 `json:"buildfarm_jobs_per_second"`
	FloorWall                  float64 `json:"floor_wall_seconds"`
	FloorJobsPerSec            float64 `json:"floor_jobs_per_second"`
	FloorLikeForLikeWall       float64 `json:"floor_like_for_like_wall_seconds"`
	FloorLikeForLikeJobsPerSec float64 `json:"floor_like_for_like_jobs_per_second"`
	ThroughputRatio            float64 `json:"throughput_ratio"`
	ThroughputRatioLikeForLike float64 `json:"throughput_ratio_like_for_like"`
	Incomplete                 bool    `json:"incomplete,omitempty"`

	window
}

// floorRun is one floor batch's figures.
type floorRun struct {
	wall  time.Duration
	calls awscalls.Calls
}

// runFloor pushes jobs through a fresh floor of kind with receivers workers.
func (r *rig) runFloor(ctx context.Context, kind floorKind, name string, receivers, jobs int) (floorRun, error) {
	fl, err := r.startFloor(ctx, kind, name, receivers, true, jobs)
	if err != nil {
		return floorRun{}, err
	}
	defer fl.stop()
	before := fl.snapshot()
	wall, err := fl.throughput(ctx, jobs, 2)
	if err != nil {
		return floorRun{}, fmt.Errorf("%s floor: %w", kind, err)
	}
	return floorRun{wall: wall, calls: fl.snapshot().Sub(before)}, nil
}

func notIdle(k awscalls.Key) bool { return k.Phase != phaseIdlePoll }

func (r *rig) throughput(ctx context.Context, p plan, sh shape, rounds int) (*ThroughputRun, error) {
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
	slots := sh.Builders * sh.Slots
	var minimalCalls, lflCalls awscalls.Calls
	var minimalWall, lflWall, farmWall float64
	var farmWindowCalls int64
	for rn := range rounds {
		// The floors first, while the farm's agents wait in their long polls.
		minimal, err := r.runFloor(ctx, floorMinimal, fmt.Sprintf("%s-%d", name, rn), slots, p.throughputJobs)
		if err != nil {
			return nil, err
		}
		lfl, err := r.runFloor(ctx, floorLikeForLike, fmt.Sprintf("%s-lfl-%d", name, rn), slots, p.throughputJobs)
		if err != nil {
			return nil, err
		}
		minimalCalls, lflCalls = awscalls.Merge(minimalCalls, minimal.calls), awscalls.Merge(lflCalls, lfl.calls)
		minimalWall, lflWall = minimalWall+minimal.wall.Seconds(), lflWall+lfl.wall.Seconds()

		rd := &ThroughputRound{
			FloorWall: round3(minimal.wall), FloorJobsPerSec: round(float64(p.throughputJobs)/minimal.wall.Seconds(), 2),
			FloorLikeForLikeWall: round3(lfl.wall), FloorLikeForLikeJobsPerSec: round(float64(p.throughputJobs)/lfl.wall.Seconds(), 2),
		}
		mark := fr.mark()
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
		rd.Incomplete = err != nil
		fr.obs.mu.Lock()
		rd.Completed = fr.obs.completedCount(ids)
		fr.obs.mu.Unlock()
		if rd.Completed == 0 {
			return nil, fmt.Errorf("%s: no job completed within %s", name, p.throughputTimeout)
		}
		end := fr.obs.lastCompletion(ids)
		// The calls between the first submit and the last completion, empty
		// long polls left out, as for the floors.
		farmWindowCalls += fr.since(mark).calls.Total(notIdle).Calls
		farmWall += end.Sub(start).Seconds()
		rd.WallSeconds = round(end.Sub(start).Seconds(), 3)
		rd.JobsPerSecond = round(float64(rd.Completed)/end.Sub(start).Seconds(), 2)
		rd.ThroughputRatio = Ratio(rd.JobsPerSecond, rd.FloorJobsPerSec)
		rd.ThroughputRatioLikeForLike = Ratio(rd.JobsPerSecond, rd.FloorLikeForLikeJobsPerSec)
		if run.DoorbellsInFlight, _, err = fr.waitQueueEmpty(ctx, fr.doorbellQueue(), 5*time.Second, true); err != nil {
			return nil, err
		}
		rd.window = fr.since(mark)
		run.Rounds = append(run.Rounds, rd)
		run.Completed += rd.Completed
		run.Incomplete = run.Incomplete || rd.Incomplete
		run.calls = awscalls.Merge(run.calls, rd.calls)
		run.routes = addRoutes(run.routes, rd.routes)
		run.logs = addLogs(run.logs, rd.logs)
		run.seconds += rd.seconds
	}
	if _, err := fr.stopAgents(); err != nil {
		return nil, err
	}
	median := func(f func(*ThroughputRound) float64) float64 {
		var v []float64
		for _, rd := range run.Rounds {
			v = append(v, f(rd))
		}
		return SpreadOf(v).Median
	}
	run.Completed /= len(run.Rounds)
	run.JobsPerSecond = median(func(rd *ThroughputRound) float64 { return rd.JobsPerSecond })
	run.FloorJobsPerSec = median(func(rd *ThroughputRound) float64 { return rd.FloorJobsPerSec })
	run.FloorLikeForLikeJobsPerSec = median(func(rd *ThroughputRound) float64 { return rd.FloorLikeForLikeJobsPerSec })
	run.ThroughputRatio = median(func(rd *ThroughputRound) float64 { return rd.ThroughputRatio })
	run.ThroughputRatioLikeForLike = median(func(rd *ThroughputRound) float64 { return rd.ThroughputRatioLikeForLike })
	if c, ok := run.routes["POST /v1/builders/{name}/claim"]; ok {
		run.Claims, run.ClaimsEmpty = c.Requests, c.NoContent
	}
	jobs := run.Completed * len(run.Rounds)
	floorJobs := p.throughputJobs * len(run.Rounds)
	run.TimePerJob = timePerJob(run.calls, run.routes, jobs)
	run.EmulatorCallsPerSecond = round(float64(farmWindowCalls)/farmWall, 1)
	run.FloorEmulatorCallsPerSecond = round(float64(minimalCalls.Total(notIdle).Calls)/minimalWall, 1)
	run.FloorLikeForLikeEmulatorCallsPerSecond = round(float64(lflCalls.Total(notIdle).Calls)/lflWall, 1)
	run.OpLatency = opLatencies(run.calls, jobs, jobPhases)
	run.FloorOpLatency = opLatencies(minimalCalls, floorJobs, []string{"floor"})
	run.FloorLikeForLikeOpLatency = opLatencies(lflCalls, floorJobs, []string{"floor"})
	return run, nil
}

func round3(d time.Duration) float64 { return round(d.Seconds(), 3) }

// addRoutes sums two sets of route counts.
func addRoutes(a, b map[string]RouteStat) map[string]RouteStat {
	out := map[string]RouteStat{}
	for _, m := range []map[string]RouteStat{a, b} {
		for k, v := range m {
			o := out[k]
			o.Phase = v.Phase
			o.Requests += v.Requests
			o.Status2xx += v.Status2xx
			o.NoContent += v.NoContent
			o.Nanos += v.Nanos
			o.BilledMillis += v.BilledMillis
			out[k] = o
		}
	}
	return out
}

// addLogs sums two sets of log counts.
func addLogs(a, b map[string]LogStat) map[string]LogStat {
	out := map[string]LogStat{}
	for _, m := range []map[string]LogStat{a, b} {
		for k, v := range m {
			o := out[k]
			o.Lines += v.Lines
			o.Bytes += v.Bytes
			out[k] = o
		}
	}
	return out
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
