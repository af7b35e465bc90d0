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
	"Minimal floor: from the start of PutItem to the end of the conditional UpdateItem that claimed the item, after " +
	"SendMessage and a receive by a long poll already waiting. Like-for-like floor: the same, with a Query of a " +
	"sparse dispatch index picking the job between the receive and the claim (and a fenced completion after it, " +
	"outside the measured span). The three alternate, in rotating order, in the same run; the run is split into " +
	"rounds: p50 and p90 ratios are the median of the rounds' ratios, p99 ratios are of the pooled samples"

// LatencyResult is the submit -> claim figure.
type LatencyResult struct {
	Definition string `json:"definition"`
	Builders   int    `json:"builders"`
	Slots      int    `json:"slots_per_builder"`
	// Buildfarm, Floor, FloorLikeForLike and SubmitCall pool every round's samples.
	Buildfarm        Summary `json:"buildfarm_ms"`
	Floor            Summary `json:"floor_ms"`
	FloorLikeForLike Summary `json:"floor_like_for_like_ms"`
	// SubmitCall is how long POST /v1/jobs took (part of Buildfarm).
	SubmitCall Summary `json:"submit_call_ms"`
	// The ratios: p50 and p90 the median of the rounds', p99 of the pooled samples.
	LatencyRatioP50            float64         `json:"latency_ratio_p50"`
	LatencyRatioP90            float64         `json:"latency_ratio_p90"`
	LatencyRatioP99            float64         `json:"latency_ratio_p99"`
	LatencyRatioP50LikeForLike float64         `json:"latency_ratio_p50_like_for_like"`
	LatencyRatioP90LikeForLike float64         `json:"latency_ratio_p90_like_for_like"`
	LatencyRatioP99LikeForLike float64         `json:"latency_ratio_p99_like_for_like"`
	Rounds                     []*LatencyRound `json:"rounds"`
	// DoorbellsInFlight were received by an agent with no free slot when the
	// window closed: each comes back after its visibility timeout and costs a
	// receive, a claim and a delete more, not counted here.
	DoorbellsInFlight int `json:"doorbells_in_flight_at_end"`
	// FloorCallsPerJob is what each floor did per job (by operation).
	FloorCallsPerJob            map[string]float64 `json:"floor_calls_per_job"`
	FloorLikeForLikeCallsPerJob map[string]float64 `json:"floor_like_for_like_calls_per_job"`
}

// LatencyRound is one round of the latency scenario: its samples' summaries
// and ratios, and what its jobs cost (see lifecycle.idle for the pooled one).
type LatencyRound struct {
	Buildfarm                  Summary `json:"buildfarm_ms"`
	Floor                      Summary `json:"floor_ms"`
	FloorLikeForLike           Summary `json:"floor_like_for_like_ms"`
	LatencyRatioP50            float64 `json:"latency_ratio_p50"`
	LatencyRatioP90            float64 `json:"latency_ratio_p90"`
	LatencyRatioP50LikeForLike float64 `json:"latency_ratio_p50_like_for_like"`
	LatencyRatioP90LikeForLike float64 `json:"latency_ratio_p90_like_for_like"`

	window
}

// window is what the farm did in a measured window: its AWS calls (farm
// process and agents, phases named), its API requests, its log output and
// how long it lasted.
type window struct {
	calls   awscalls.Calls
	routes  map[string]RouteStat
	logs    map[string]LogStat
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
	minimal, err := r.startFloor(ctx, floorMinimal, "latency", builders*slots, false, 0)
	if err != nil {
		return nil, err
	}
	defer minimal.stop()
	lfl, err := r.startFloor(ctx, floorLikeForLike, "latency-lfl", builders*slots, true, p.latencySamples*p.rounds)
	if err != nil {
		return nil, err
	}
	defer lfl.stop()

	res := &LatencyResult{Definition: latencyDefinition, Builders: builders, Slots: slots}
	minimalBefore, lflBefore := minimal.snapshot(), lfl.snapshot()
	var farmAll, floorAll, lflAll, submitAll []time.Duration
	for round := range p.rounds {
		mark := fr.mark()
		var farmLat, floorLat, lflLat []time.Duration
		for i := range p.latencySamples {
			// Rotate the order so that none of the three always follows the pause.
			for k := range 3 {
				switch (i + round + k) % 3 {
				case 0:
					d, err := minimal.latencySample(ctx)
					if err != nil {
						return nil, err
					}
					floorLat = append(floorLat, d)
				case 1:
					d, err := lfl.latencySample(ctx)
					if err != nil {
						return nil, err
					}
					lflLat = append(lflLat, d)
				case 2:
					d, sd, err := farmLatencySample(ctx, fr)
					if err != nil {
						return nil, fmt.Errorf("latency round %d sample %d: %w", round, i, err)
					}
					farmLat, submitAll = append(farmLat, d), append(submitAll, sd)
				}
			}
			if err := sleepCtx(ctx, p.latencyPause); err != nil {
				return nil, err
			}
		}
		// Every doorbell rung for these jobs has been received and deleted.
		if res.DoorbellsInFlight, _, err = fr.waitQueueEmpty(ctx, fr.doorbellQueue(), 5*time.Second, true); err != nil {
			return nil, err
		}
		rd := &LatencyRound{Buildfarm: Summarize(farmLat), Floor: Summarize(floorLat), FloorLikeForLike: Summarize(lflLat), window: fr.since(mark)}
		rd.LatencyRatioP50, rd.LatencyRatioP90 = Ratio(rd.Buildfarm.P50, rd.Floor.P50), Ratio(rd.Buildfarm.P90, rd.Floor.P90)
		rd.LatencyRatioP50LikeForLike = Ratio(rd.Buildfarm.P50, rd.FloorLikeForLike.P50)
		rd.LatencyRatioP90LikeForLike = Ratio(rd.Buildfarm.P90, rd.FloorLikeForLike.P90)
		res.Rounds = append(res.Rounds, rd)
		farmAll, floorAll, lflAll = append(farmAll, farmLat...), append(floorAll, floorLat...), append(lflAll, lflLat...)
	}
	if _, err := fr.stopAgents(); err != nil {
		return nil, err
	}

	res.Buildfarm, res.Floor, res.FloorLikeForLike, res.SubmitCall = Summarize(farmAll), Summarize(floorAll), Summarize(lflAll), Summarize(submitAll)
	ratios := func(f func(*LatencyRound) float64) float64 {
		var v []float64
		for _, rd := range res.Rounds {
			v = append(v, f(rd))
		}
		return SpreadOf(v).Median
	}
	res.LatencyRatioP50 = ratios(func(rd *LatencyRound) float64 { return rd.LatencyRatioP50 })
	res.LatencyRatioP90 = ratios(func(rd *LatencyRound) float64 { return rd.LatencyRatioP90 })
	res.LatencyRatioP50LikeForLike = ratios(func(rd *LatencyRound) float64 { return rd.LatencyRatioP50LikeForLike })
	res.LatencyRatioP90LikeForLike = ratios(func(rd *LatencyRound) float64 { return rd.LatencyRatioP90LikeForLike })
	res.LatencyRatioP99 = Ratio(res.Buildfarm.P99, res.Floor.P99)
	res.LatencyRatioP99LikeForLike = Ratio(res.Buildfarm.P99, res.FloorLikeForLike.P99)
	res.FloorCallsPerJob = floorCalls(minimal.snapshot().Sub(minimalBefore), len(floorAll))
	res.FloorLikeForLikeCallsPerJob = floorCalls(lfl.snapshot().Sub(lflBefore), len(lflAll))
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
