package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// Report is everything one run measured; bench.json holds it.
type Report struct {
	Schema      int         `json:"schema"`
	Environment Environment `json:"environment"`
	// Git is the commit measured and whether the tree had changes.
	Git GitState `json:"git"`

	// Headline figures (details below), each the median of its rounds
	// (Runs has their min/median/max) but the p99 ratios, which are of the
	// pooled samples. The minimal floor's ratios, then the like-for-like
	// floor's.
	LatencyRatioP50            float64 `json:"latency_ratio_p50"`
	LatencyRatioP90            float64 `json:"latency_ratio_p90"`
	LatencyRatioP99            float64 `json:"latency_ratio_p99"`
	LatencyRatioP50LikeForLike float64 `json:"latency_ratio_p50_like_for_like"`
	LatencyRatioP99LikeForLike float64 `json:"latency_ratio_p99_like_for_like"`
	// ThroughputRatio is buildfarm / floor jobs per second of the shape with the most slots.
	ThroughputRatio            float64 `json:"throughput_ratio"`
	ThroughputRatioLikeForLike float64 `json:"throughput_ratio_like_for_like"`
	ThroughputRatioShape       string  `json:"throughput_ratio_shape"`
	// CallsPerJob, USDPerMillionJobs and WriteRequestUnitsPerJob are for a
	// no-op job taken by an idle builder (the latency scenario) plus its
	// final lease timer if any; the saturated ones for the throughput shape
	// with the most slots.
	CallsPerJob                  float64 `json:"calls_per_job"`
	USDPerMillionJobs            float64 `json:"usd_per_million_jobs"`
	WriteRequestUnitsPerJob      float64 `json:"write_request_units_per_job"`
	CallsPerJobSaturated         float64 `json:"calls_per_job_saturated"`
	USDPerMillionJobsSaturated   float64 `json:"usd_per_million_jobs_saturated"`
	USDPerMillionRunningMinutes  float64 `json:"usd_per_million_running_minutes"`
	PriorityFractionHighestFirst float64 `json:"priority_fraction_highest_first"`
	// Targets are issue 12's goals and whether this run met them.
	Targets []Target `json:"targets"`
	// Runs are the headline figures' rounds: min, median, max and each value.
	Runs map[string]Spread `json:"headline_runs"`

	Latency    *LatencyResult        `json:"latency"`
	Throughput *ThroughputResult     `json:"throughput"`
	Lifecycle  map[string]*Lifecycle `json:"lifecycle"`
	Lease      *LeaseResult          `json:"heartbeats_and_lease_timers"`
	Priority   *PriorityResult       `json:"priority"`
	ColdStart  *ColdStartResult      `json:"cold_start"`
	Prices     Prices                `json:"prices"`
	Notes      []string              `json:"notes"`
}

// ThroughputResult is every shape's run.
type ThroughputResult struct {
	Definition string           `json:"definition"`
	Runs       []*ThroughputRun `json:"runs"`
}

var reportNotes = []string{
	"Every figure is measured in this run against a private moto_server on loopback; speeds are only meaningful as ratios to the floors measured in the same run on the same machine.",
	"Two floors: the minimal one (PutItem, SendMessage, waiting receive, conditional claim, delete; a fenced completion for throughput) and the like-for-like one, which also picks the job with a Query of a sparse dispatch index and always completes it: 7 calls per job, what a correct farm must do.",
	"Headline figures are the median of 3 rounds (headline_runs has min, median, max and each round's value); the p99 ratios are of every round's samples pooled; per-phase tables pool the rounds.",
	"Log ingestion: the farm's components log through a handler that writes each line as a deployed function does (Lambda's JSON format with a requestId, at topology.LambdaApplicationLogLevel), counted by the phase that logged it; EMF metric records likewise; plus Lambda's platform.start and platform.report lines per invocation unless topology.LambdaSystemLogLevel is WARN or above.",
	"API requests of builders take topology.BuilderAPIEdge (API Gateway HTTP API, or the api function's URL at no per-request charge); submissions take the HTTP API.",
	"The farm is the local runtime (shared/wiring.StartLocal over shared/runtime/localfarm) with lease timers on as in AWS; its emulator client locks each DynamoDB item while a write to it is in flight (shared/adapter/emulator/itemlock), because moto's conditional writes are not atomic under concurrency; writes to different items run at once, as in AWS, which needs no lock.",
	"AWS calls are counted by an SDK middleware (shared/testkit/awscalls) in the farm process, and by a counting proxy (awscalls.Proxy) in front of the emulator for the farm-builder processes, whose AWS endpoint it is, and for presigned uploads and downloads, whose URLs name it; the agent binary counts nothing itself.",
	"DynamoDB request units are estimated from the recorded item sizes with DynamoDB's rules, GSI entries included (shared/testkit/awscalls/ddbunits); DynamoDB Streams reads are free when a Lambda trigger makes them, as in AWS, and a stream batch invokes (and is priced as) a dispatch Lambda only when one of its records passes the mapping's filter (dynamostore.DispatchFilter), as the event source mapping's FilterCriteria do.",
	"Lambda compute is the API handler time measured here (api: 512 MB) and the dispatcher's/reaper's AWS call time (256 MB), against moto: real DynamoDB is usually faster, so these are rough.",
	"Per-job counts leave out time-based calls (empty long polls, stream reads, reaper passes, heartbeats); those are under background_calls_per_second and heartbeats_and_lease_timers.",
	"auth_refresh (under background_calls_per_second) is each API instance's read of the auth generation record (shared/app/authgen), at most one per 2 s, whether its background refresher or a request after a pause makes it: the API trusts its cached tokens and builder records between these reads, so no token or builder read is made per job.",
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printReport(w io.Writer, rep *Report) {
	e := rep.Environment
	fmt.Fprintf(w, "buildfarm benchmark — %s mode, %s, %s %s/%s, %d CPUs, moto %s, load %s -> %s, %.0f s\n",
		e.Mode, e.Date, e.GoVersion, e.GOOS, e.GOARCH, e.CPUs, e.MotoVersion, e.LoadAvgStart, e.LoadAvgEnd, e.Seconds)
	fmt.Fprintf(w, "commit %s%s\n\n", rep.Git.Commit, map[bool]string{true: " (with uncommitted changes)"}[rep.Git.Dirty])
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()

	if l := rep.Latency; l != nil {
		fmt.Fprintf(tw, "SUBMIT -> CLAIM LATENCY (%d builders x %d slot, idle, %d rounds, %d samples)\tp50 ms\tp90 ms\tp99 ms\tmean ms\n", l.Builders, l.Slots, len(l.Rounds), l.Buildfarm.N)
		fmt.Fprintf(tw, "  buildfarm (submit start -> claim answered)\t%.1f\t%.1f\t%.1f\t%.1f\n", l.Buildfarm.P50, l.Buildfarm.P90, l.Buildfarm.P99, l.Buildfarm.Mean)
		fmt.Fprintf(tw, "  of which POST /v1/jobs\t%.1f\t%.1f\t%.1f\t%.1f\n", l.SubmitCall.P50, l.SubmitCall.P90, l.SubmitCall.P99, l.SubmitCall.Mean)
		fmt.Fprintf(tw, "  minimal floor (PutItem, SendMessage, waiting Receive, UpdateItem)\t%.1f\t%.1f\t%.1f\t%.1f\n", l.Floor.P50, l.Floor.P90, l.Floor.P99, l.Floor.Mean)
		fmt.Fprintf(tw, "  like-for-like floor (... Receive, Query of the index, UpdateItem)\t%.1f\t%.1f\t%.1f\t%.1f\n", l.FloorLikeForLike.P50, l.FloorLikeForLike.P90, l.FloorLikeForLike.P99, l.FloorLikeForLike.Mean)
		fmt.Fprintf(tw, "  ratio buildfarm / minimal floor (p50, p90: median of rounds)\t%.2f\t%.2f\t%.2f\t\n", l.LatencyRatioP50, l.LatencyRatioP90, l.LatencyRatioP99)
		fmt.Fprintf(tw, "  ratio buildfarm / like-for-like floor\t%.2f\t%.2f\t%.2f\t\n", l.LatencyRatioP50LikeForLike, l.LatencyRatioP90LikeForLike, l.LatencyRatioP99LikeForLike)
		if l.Buildfarm.N < 100 {
			fmt.Fprintf(tw, "  (fewer than 100 samples: p99 is the largest)\n")
		}
		fmt.Fprintln(tw)
	}
	if t := rep.Throughput; t != nil && len(t.Runs) > 0 {
		fmt.Fprintf(tw, "THROUGHPUT (no-op jobs)\trounds x jobs\tbuildfarm jobs/s\tminimal floor jobs/s\tratio\tlike-for-like floor jobs/s\tratio\tclaims (204)\tdoorbells left in flight\temulator calls/s farm | floors\n")
		for _, r := range t.Runs {
			inc := ""
			if r.Incomplete {
				inc = fmt.Sprintf(" (only %d done)", r.Completed)
			}
			fmt.Fprintf(tw, "  %s builders x slots\t%d x %d%s\t%.2f\t%.2f\t%.3f\t%.2f\t%.3f\t%d (%d)\t%d\t%.0f | %.0f, %.0f\n", r.Shape, len(r.Rounds), r.Jobs, inc,
				r.JobsPerSecond, r.FloorJobsPerSec, r.ThroughputRatio, r.FloorLikeForLikeJobsPerSec, r.ThroughputRatioLikeForLike,
				r.Claims, r.ClaimsEmpty, r.DoorbellsInFlight, r.EmulatorCallsPerSecond, r.FloorEmulatorCallsPerSecond, r.FloorLikeForLikeEmulatorCallsPerSecond)
		}
		fmt.Fprintf(tw, "  (with several rounds: the median of the rounds' jobs/s and ratios)\n")
		big := t.Runs[len(t.Runs)-1]
		fmt.Fprintf(tw, "\n  where a job's time goes at %s (ms per job)\tAPI handler\tDynamoDB\tSQS\tS3\n", big.Shape)
		for _, p := range []string{phaseSubmit, phaseDispatch, phaseClaim, phaseComplete} {
			m := big.TimePerJob[p]
			fmt.Fprintf(tw, "  %s\t%.1f\t%.1f\t%.1f\t%.1f\n", p, m["api_handler"], m["DynamoDB"], m["SQS"], m["S3"])
		}
		fmt.Fprintf(tw, "  (SQS and S3 include the agents' deletes and uploads; long-poll waits excluded)\n")
		fmt.Fprintf(tw, "\n  AWS operation at %s\tbuildfarm calls/job\tmean ms\tminimal floor calls/job\tmean ms\tlike-for-like calls/job\tmean ms\n", big.Shape)
		for _, op := range slices.Sorted(maps.Keys(unionKeys(big.OpLatency, big.FloorOpLatency, big.FloorLikeForLikeOpLatency))) {
			a, b, c := big.OpLatency[op], big.FloorOpLatency[op], big.FloorLikeForLikeOpLatency[op]
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", op, num(a.CallsPerJob), num(a.MeanMillis), num(b.CallsPerJob), num(b.MeanMillis), num(c.CallsPerJob), num(c.MeanMillis))
		}
		fmt.Fprintln(tw)
	}
	for _, name := range []string{"idle", "saturated"} {
		l := rep.Lifecycle[name]
		if l == nil {
			continue
		}
		fmt.Fprintf(tw, "AWS CALLS PER JOB, %s (%s, %d jobs)\tcalls\tAPI requests\tWRU\tlog bytes\n", strings.ToUpper(name), l.Scenario, l.Jobs)
		for _, p := range jobPhases {
			pc, ok := l.Phases[p]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%.2f\t%.2f\t%.2f\t%.0f\n", p, pc.Total, pc.APIRequests, pc.WriteUnits, pc.LogBytes)
			for _, op := range slices.Sorted(maps.Keys(pc.Calls)) {
				fmt.Fprintf(tw, "    %s\t%.2f\t\t\t\n", op, pc.Calls[op])
			}
		}
		fmt.Fprintf(tw, "  total\t%.2f\t%.2f\t%.2f\t\n", l.CallsPerJob, l.APIRequestsPerJob, l.Usage.DynamoDBWriteUnits)
		for _, t := range slices.Sorted(maps.Keys(l.Writes)) {
			w := l.Writes[t]
			fmt.Fprintf(tw, "  %s: %.2f/job, item avg %.0f B (max %d B), %.2f WRU each with its GSI entries\n", t, w.CallsPerJob, w.AvgItemBytes, w.MaxItemBytes, w.WriteUnitsPerCall)
		}
		u, c := l.Usage, l.Cost
		fmt.Fprintf(tw, "  billable per job: %.2f WRU, %.2f RRU, %.2f SQS requests, %.2f S3 PUT, %.2f S3 GET, %.2f API Gateway requests, %.2f function URL requests, %.2f Lambda invocations, %.4f Lambda GB-s, %.0f log bytes\n",
			u.DynamoDBWriteUnits, u.DynamoDBReadUnits, u.SQSRequests, u.S3PutRequests, u.S3GetRequests, u.APIRequests, u.FunctionURLRequests, u.LambdaInvocations, u.LambdaGBSeconds, u.CloudWatchLogsBytes)
		fmt.Fprintf(tw, "  $ per million jobs: %.2f (DynamoDB %.2f, SQS %.2f, S3 %.2f, Lambda %.2f, API Gateway %.2f, CloudWatch Logs %.2f)\n", c.Total, c.DynamoDB, c.SQS, c.S3, c.Lambda, c.APIGateway, c.CloudWatchLogs)
		fmt.Fprintf(tw, "  while running, heartbeats and lease timers: %.2f calls and $%.2f per million job-minutes (see below)\n", l.PerRunningMinute, l.PerRunningMinuteCost.Total)
		if len(l.Background) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(l.Background)) {
				parts = append(parts, fmt.Sprintf("%s %.2f", k, l.Background[k]))
			}
			fmt.Fprintf(tw, "  background calls/s (not per job): %s\n", strings.Join(parts, ", "))
		}
		fmt.Fprintln(tw)
	}
	if l := rep.Lease; l != nil {
		fmt.Fprintf(tw, "KEEPING A JOB ALIVE\tvalue\t\n")
		for _, k := range slices.Sorted(maps.Keys(l.Heartbeats)) {
			h := l.Heartbeats[k]
			fmt.Fprintf(tw, "  AWS calls per heartbeat renewing %s (%d seen)\t%.2f\t\n", strings.ReplaceAll(k, "_", " "), h.Requests, h.CallsPerBeat)
		}
		fmt.Fprintf(tw, "  lease timer fires / re-arms seen\t%d / %d\t\n", l.TimerFires, l.TimerRearms)
		fmt.Fprintf(tw, "  AWS calls per final lease timer fire\t%.2f\t\n", l.CallsPerFinalFire)
		fmt.Fprintf(tw, "  API log bytes per heartbeat (without Lambda's lines)\t%.0f\t\n", l.LogBytesPerHeartbeat)
		fmt.Fprintf(tw, "  AWS calls per running minute (defaults: %.0f heartbeats, %.2f timer fires)\t%.2f\t\n", l.HeartbeatsPerMinute, l.TimerFiresPerMinute, l.PerRunningMinute)
		fmt.Fprintf(tw, "  $ per million running minutes\t%.2f\t\n", l.CostPerMillionRunningMinutes.Total)
		fmt.Fprintf(tw, "  idle builder: AWS calls per minute / $ per month (1 pool)\t%.1f / %.3f\t\n\n", l.IdleBuilderCallsPerMinute, l.IdleBuilderUSDPerMonth)
	}
	if p := rep.Priority; p != nil {
		fmt.Fprintf(tw, "PRIORITY ORDER UNDER LOAD (2x1 saturated, %d mixed jobs)\tvalue\t\n", p.Jobs)
		fmt.Fprintf(tw, "  claims judged / with a choice / violations\t%d / %d / %d\t\n", p.Claims, p.WithChoice, p.Violations)
		fmt.Fprintf(tw, "  fraction that took the highest-scored waiting job\t%.4f\t\n\n", p.FractionHighestFirst)
		for _, ex := range p.Examples {
			fmt.Fprintf(tw, "  ! %s\n", ex)
		}
	}
	if c := rep.ColdStart; c != nil {
		fmt.Fprintf(tw, "LAMBDA COLD START PROXY\tbootstrap (arm64)\tready p50 ms\tready max ms\truns\n")
		for _, f := range c.Functions {
			fmt.Fprintf(tw, "  %s\t%.1f MiB\t%.1f\t%.1f\t%d\n", f.Function, float64(f.BootstrapBytes)/(1<<20), f.Ready.P50, f.Ready.Max, f.Ready.N)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "HEADLINE (median of rounds)\tmedian\tmin\tmax\n")
	for _, k := range headlineOrder {
		if sp, ok := rep.Runs[k]; ok {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k, fnum(sp.Median), fnum(sp.Min), fnum(sp.Max))
		}
	}
	fmt.Fprintf(tw, "  latency_ratio_p99 / like-for-like (pooled samples)\t%.2f / %.2f\t\t\n", rep.LatencyRatioP99, rep.LatencyRatioP99LikeForLike)
	fmt.Fprintf(tw, "  usd_per_million_running_minutes\t%.2f\t\t\n", rep.USDPerMillionRunningMinutes)
	fmt.Fprintf(tw, "  priority_fraction_highest_first\t%.4f\t\t\n", rep.PriorityFractionHighestFirst)
	fmt.Fprintf(tw, "  prices\t%s, as of %s\t\t\n", rep.Prices.Region, rep.Prices.AsOf)
	fmt.Fprintf(tw, "  builders reach the API by\t%s\t\t\n", topology.BuilderAPIEdge)
	fmt.Fprintf(tw, "\nTARGETS\ttarget\tvalue\tmet\n")
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "  %s\t%s %s\t%s\t%v\n", t.Name, t.Op, fnum(t.Target), fnum(t.Value), t.Met)
	}
}

// headlineOrder is the order the headline figures are printed in.
var headlineOrder = []string{
	"latency_ratio_p50", "latency_ratio_p50_like_for_like", "latency_ratio_p90",
	"throughput_ratio", "throughput_ratio_like_for_like",
	"calls_per_job", "usd_per_million_jobs", "write_request_units_per_job",
	"calls_per_job_saturated", "usd_per_million_jobs_saturated",
}

func fnum(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func unionKeys(ms ...map[string]OpLatency) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}
