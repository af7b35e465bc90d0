package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

const latencyDefinition = "from the start of the client's POST /v1/jobs to the moment the API has written the 200 answer " +
	"of the claim that took the job (both seen in the benchmark's process: monotonic clock); idle builders wait in " +
	"doorbell long polls; one job at a time, each completed and followed by a pause before the next. " +
	"Floor: from the start of PutItem to the end of the conditional UpdateItem that claimed the item, after " +
	"SendMessage and a receive by a long poll already waiting; floor and farm samples alternate in the same run"

// LatencyResult is the submit -> claim figure.
type LatencyResult struct {
	Definition string  `json:"definition"`
	Builders   int     `json:"builders"`
	Slots      int     `json:"slots_per_builder"`
	Buildfarm  Summary `json:"buildfarm_ms"`
	Floor      Summary `json:"floor_ms"`
	// SubmitCall is how long POST /v1/jobs took (part of Buildfarm).
	SubmitCall      Summary `json:"submit_call_ms"`
	LatencyRatioP50 float64 `json:"latency_ratio_p50"`
	LatencyRatioP90 float64 `json:"latency_ratio_p90"`
	LatencyRatioP99 float64 `json:"latency_ratio_p99"`
	// DoorbellsInFlight were received by an agent with no free slot when the
	// window closed: each comes back after its visibility timeout and costs a
	// receive, a claim and a delete more, not counted here.
	DoorbellsInFlight int `json:"doorbells_in_flight_at_end"`
	// FloorCallsPerJob is what the floor did per job (by operation).
	FloorCallsPerJob map[string]float64 `json:"floor_calls_per_job"`

	calls   awscalls.Calls
	routes  map[string]RouteStat
	seconds float64
}

func noopJob() apiv1.SubmitJobRequest {
	return apiv1.SubmitJobRequest{Type: "script", Payload: json.RawMessage(`{"script":"true"}`)}
}

func (r *rig) latency(ctx context.Context, p plan) (*LatencyResult, error) {
	const builders, slots = 2, 1
	fr, err := r.startFarm(ctx, "latency", farm.Policy{})
	if err != nil {
		return nil, err
	}
	defer fr.stop()
	if err := fr.startAgents(ctx, builders, slots); err != nil {
		return nil, err
	}
	fl, err := r.startFloor(ctx, "latency", builders*slots, false, 0)
	if err != nil {
		return nil, err
	}
	defer fl.stop()

	res := &LatencyResult{Definition: latencyDefinition, Builders: builders, Slots: slots}
	callsBefore, routesBefore, began := fr.calls.Snapshot(), fr.obs.routeSnapshot(), time.Now()
	floorBefore := fl.snapshot()
	var farmLat, floorLat, submitLat []time.Duration
	for i := range p.latencySamples {
		floorFirst := i%2 == 0
		if floorFirst {
			d, err := fl.latencySample(ctx)
			if err != nil {
				return nil, err
			}
			floorLat = append(floorLat, d)
		}
		d, sd, err := farmLatencySample(ctx, fr)
		if err != nil {
			return nil, fmt.Errorf("latency sample %d: %w", i, err)
		}
		farmLat, submitLat = append(farmLat, d), append(submitLat, sd)
		if !floorFirst {
			d, err := fl.latencySample(ctx)
			if err != nil {
				return nil, err
			}
			floorLat = append(floorLat, d)
		}
		if err := sleepCtx(ctx, p.latencyPause); err != nil {
			return nil, err
		}
	}
	// Every doorbell rung for these jobs has been received and deleted.
	if res.DoorbellsInFlight, _, err = fr.waitQueueEmpty(ctx, fr.doorbellQueue(), 5*time.Second, true); err != nil {
		return nil, err
	}
	res.seconds = time.Since(began).Seconds()
	agents, err := fr.stopAgents()
	if err != nil {
		return nil, err
	}
	res.calls = awscalls.Merge(fr.farmPhases(fr.calls.Snapshot().Sub(callsBefore)), fr.agentPhases(agents))
	res.routes = subRoutes(fr.obs.routeSnapshot(), routesBefore)

	res.Buildfarm, res.Floor, res.SubmitCall = Summarize(farmLat), Summarize(floorLat), Summarize(submitLat)
	res.LatencyRatioP50 = Ratio(res.Buildfarm.P50, res.Floor.P50)
	res.LatencyRatioP90 = Ratio(res.Buildfarm.P90, res.Floor.P90)
	res.LatencyRatioP99 = Ratio(res.Buildfarm.P99, res.Floor.P99)
	res.FloorCallsPerJob = floorCalls(fl.snapshot().Sub(floorBefore), len(floorLat))
	return res, nil
}

// farmLatencySample submits a no-op job, waits for its claim and its
// completion, and returns submit -> claim answered and the submit call's time.
func farmLatencySample(ctx context.Context, fr *farmRun) (time.Duration, time.Duration, error) {
	start := time.Now()
	job, _, err := fr.submit.SubmitJob(ctx, noopJob(), "")
	if err != nil {
		return 0, 0, err
	}
	submitted := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := fr.obs.waitUntil(wctx, func(o *observer) bool {
		_, claimed := o.claimed[job.ID]
		_, done := o.completed[job.ID]
		return claimed && done
	}); err != nil {
		return 0, 0, fmt.Errorf("job %s not claimed and completed within 30 s: %w", job.ID, err)
	}
	c, _ := fr.obs.claimOf(job.ID)
	return c.End.Sub(start), submitted, nil
}

func floorCalls(calls awscalls.Calls, jobs int) map[string]float64 {
	out := map[string]float64{}
	if jobs == 0 {
		return out
	}
	for _, e := range calls {
		if e.Phase == phaseIdlePoll {
			continue
		}
		out[e.Service+"."+e.Operation] += round(float64(e.Calls)/float64(jobs), 2)
	}
	return out
}
