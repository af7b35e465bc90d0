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

// Default timings of a deployed farm (farm.Policy defaults).
const (
	defaultHeartbeat = 10 * time.Second
	defaultLease     = 3 * defaultHeartbeat
)

const leaseDefinition = "1 builder × 1 slot, heartbeat 1 s and lease 3 s (so that they happen in seconds), one " +
	"job that runs past its first lease printing a line every half second (so that heartbeats carry log output). " +
	"Each heartbeat request's own AWS calls are tallied by the number of jobs it renews, with what the API logs " +
	"serving it; lease timers (SQS delay messages), if the farm has them, are counted as they fire. Per running " +
	"minute at the default 10 s heartbeat and 30 s lease: 6 one-job heartbeats (each an api invocation, an API " +
	"Gateway request unless builders take the function URL, its log lines and Lambda's) + 60/31 timer fires that re-arm"

// LeaseResult is what keeping a job alive costs.
type LeaseResult struct {
	Definition string `json:"definition"`
	// Heartbeats by the number of jobs they renewed: requests and AWS calls per request.
	Heartbeats map[string]HeartbeatCalls `json:"heartbeats"`
	// Lease timers: fires (delivered timer messages), re-arms (fires that
	// found the job running and armed the next), calls.
	TimerFires        int64              `json:"lease_timer_fires"`
	TimerRearms       int64              `json:"lease_timer_rearms"`
	CallsPerFinalFire float64            `json:"calls_per_final_fire"`
	FinalFire         map[string]float64 `json:"final_fire_calls"`
	// LogBytesPerHeartbeat is what the API logged per heartbeat request
	// (Lambda's platform lines not included).
	LogBytesPerHeartbeat float64 `json:"log_bytes_per_heartbeat"`
	// PerRunningMinute is the AWS calls that keep one running job alive for a
	// minute at the default timings, and their cost per million job-minutes.
	PerRunningMinute      float64  `json:"calls_per_running_minute"`
	HeartbeatsPerMinute   float64  `json:"heartbeats_per_minute"`
	TimerFiresPerMinute   float64  `json:"lease_timer_fires_per_minute"`
	UsagePerRunningMinute JobUsage `json:"usage_per_running_minute"`
	// An idle builder: its heartbeats (measured calls of a 0-job heartbeat,
	// 6 a minute) and its doorbell long polls (one per 20 s per pool, the
	// agent's poll wait), per minute and per 30-day month for one pool.
	IdleBuilderCallsPerMinute    float64 `json:"idle_builder_calls_per_minute"`
	IdleBuilderUSDPerMonth       float64 `json:"usd_per_idle_builder_month"`
	CostPerMillionRunningMinutes Cost    `json:"usd_per_million_running_minutes"`

	// finalFire is the lease_check calls of one final fire (per job).
	finalFire share
}

// HeartbeatCalls is the heartbeats that renewed a number of jobs.
type HeartbeatCalls struct {
	Requests     int                `json:"requests"`
	CallsPerBeat float64            `json:"calls_per_heartbeat"`
	Calls        map[string]float64 `json:"calls"`
	usage        JobUsage
}

func (r *rig) lease(ctx context.Context, p plan) (*LeaseResult, error) {
	fr, err := r.startFarm(ctx, "lease", farm.Policy{Heartbeat: time.Second, Lease: 3 * time.Second})
	if err != nil {
		return nil, err
	}
	defer fr.stop()
	if err := fr.startAgents(ctx, 1, 1); err != nil {
		return nil, err
	}
	callsBefore, logsBefore, routesBefore := fr.calls.Snapshot(), fr.logs.snapshot(), fr.obs.routeSnapshot()
	lines := int(p.leaseJob.Seconds() * 2)
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "step $i: compiling module $i of %d"; sleep 0.5; i=$((i+1)); done`, lines, lines)
	payload, _ := json.Marshal(map[string]string{"script": script})
	req := apiv1.SubmitJobRequest{Type: "script", Payload: payload}
	job, _, err := fr.submit.SubmitJob(ctx, req, "")
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, p.leaseJob+30*time.Second)
	err = fr.obs.waitUntil(wctx, func(o *observer) bool { _, done := o.completed[job.ID]; return done })
	cancel()
	if err != nil {
		return nil, fmt.Errorf("lease: job not completed: %w", err)
	}
	calls := fr.farmPhases(fr.calls.Snapshot().Sub(callsBefore))
	hbLogs := subLogs(fr.logs.snapshot(), logsBefore)[phaseHeartbeat]
	// Before the agent stops: its last (draining) heartbeat may be cut short.
	beats, hbRoute := fr.obs.beatsSnapshot(), subRoutes(fr.obs.routeSnapshot(), routesBefore)["POST /v1/builders/{name}/heartbeat"]
	if _, err := fr.stopAgents(); err != nil {
		return nil, err
	}

	res := &LeaseResult{Definition: leaseDefinition, Heartbeats: map[string]HeartbeatCalls{}}
	for jobs, b := range beats {
		hc := HeartbeatCalls{Requests: b.Count, Calls: map[string]float64{}}
		for _, e := range b.Calls {
			v := float64(e.Calls) / float64(b.Count)
			hc.Calls[opName(e.Key)] += round(v, 2)
			hc.CallsPerBeat += v
		}
		hc.CallsPerBeat = round(hc.CallsPerBeat, 2)
		hc.usage = usageOf(b.Calls).Scale(1 / float64(b.Count))
		res.Heartbeats[fmt.Sprintf("%d_jobs", jobs)] = hc
	}
	lease := calls.Total(func(k awscalls.Key) bool { return k.Phase == phaseLease })
	res.TimerFires = lease.Records // timer messages delivered
	res.TimerRearms = calls.Total(func(k awscalls.Key) bool { return k.Phase == phaseLease && k.Operation == "SendMessage" }).Calls
	// A final fire is a fire without its re-arm. A farm without lease timers
	// has none: the share counts nothing.
	notRearm := func(k awscalls.Key) bool { return k.Phase == phaseLease && k.Operation != "SendMessage" }
	res.finalFire = share{window: window{calls: calls}, div: float64(res.TimerFires), keep: notRearm}
	res.FinalFire = map[string]float64{}
	for _, e := range calls {
		if notRearm(e.Key) && res.TimerFires > 0 {
			v := float64(e.Calls) / float64(res.TimerFires)
			res.FinalFire[opName(e.Key)] = round(v, 2)
			res.CallsPerFinalFire += v
		}
	}
	res.CallsPerFinalFire = round(res.CallsPerFinalFire, 2)

	// One running minute at the default timings.
	one, ok := res.Heartbeats["1_jobs"]
	if !ok {
		return nil, fmt.Errorf("lease: no heartbeat carried the running job")
	}
	res.HeartbeatsPerMinute = time.Minute.Seconds() / defaultHeartbeat.Seconds()
	if res.TimerFires > 0 {
		res.TimerFiresPerMinute = round(time.Minute.Seconds()/(defaultLease+time.Second).Seconds(), 3)
	}
	perFire := newLifecycle("lease", 1, res.finalFire)
	rearm := JobUsage{SQSRequests: 1}
	res.PerRunningMinute = round(res.HeartbeatsPerMinute*one.CallsPerBeat+res.TimerFiresPerMinute*(res.CallsPerFinalFire+1), 2)
	// One heartbeat request: an api invocation (an API Gateway request unless
	// builders take the function URL), Lambda's lines and the API's own.
	nBeats := max(hbRoute.Requests, 1)
	res.LogBytesPerHeartbeat = round(float64(hbLogs.Bytes)/float64(nBeats), 0)
	hbLambda := apiRequestUsage("POST /v1/builders/{name}/heartbeat", 1, 0)
	hbLambda.LambdaGBSeconds = float64(hbRoute.BilledMillis) / float64(nBeats) / 1000 * apiMemoryGB
	hbLambda.CloudWatchLogsBytes += res.LogBytesPerHeartbeat
	res.UsagePerRunningMinute = one.usage.Add(hbLambda).Scale(res.HeartbeatsPerMinute).
		Add(perFire.Usage.Add(rearm).Scale(res.TimerFiresPerMinute))
	res.CostPerMillionRunningMinutes = ListPrices.PerMillion(res.UsagePerRunningMinute)
	res.UsagePerRunningMinute = res.UsagePerRunningMinute.rounded()
	if idle, ok := res.Heartbeats["0_jobs"]; ok {
		const pollsPerMinute = 3 // 20 s long polls
		res.IdleBuilderCallsPerMinute = round(res.HeartbeatsPerMinute*idle.CallsPerBeat+pollsPerMinute, 2)
		perMinute := idle.usage.Add(hbLambda).Scale(res.HeartbeatsPerMinute).Add(JobUsage{SQSRequests: pollsPerMinute})
		// Cost of a million minutes / 1e6 × minutes in 30 days.
		res.IdleBuilderUSDPerMonth = round(ListPrices.PerMillion(perMinute).Total/1e6*30*24*60, 3)
	}
	return res, nil
}
