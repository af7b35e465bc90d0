package main

import (
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// jobPhases are the phases a job goes through once: their calls are
// counted per job. The others are time-based (per second or per minute). A
// phase the farm does not have (lease_check without lease timers) simply
// counts nothing.
var jobPhases = []string{phaseSubmit, phaseDispatch, phaseClaim, phaseComplete, phaseLease}

// Lambda memory sizes of the farm's functions (infra/stack/functions.go).
const (
	apiMemoryGB    = 0.5
	workerMemoryGB = 0.25
)

// PhaseCount is one phase's AWS calls per job.
type PhaseCount struct {
	// APIRequests are the farm API requests of the phase per job (claims
	// that found nothing included).
	APIRequests float64 `json:"api_requests"`
	// Calls maps "Service.Operation resource" to calls per job.
	Calls map[string]float64 `json:"calls"`
	Total float64            `json:"total"`
	// WriteUnits are the DynamoDB write request units of the phase's calls
	// (GSI entries included).
	WriteUnits float64 `json:"write_request_units"`
	// LogBytes is what the farm's functions logged in the phase (their own
	// lines and metric records; Lambda's platform lines are in the usage).
	LogBytes float64 `json:"log_bytes"`
}

// Lifecycle is what one job's life costs, counted in one scenario.
type Lifecycle struct {
	Scenario string `json:"scenario"`
	Jobs     int    `json:"jobs"`
	// Phases: submit, dispatch, claim, complete and lease_check (the lease
	// timer that fires after the job's claim; counted in the lease scenario).
	Phases            map[string]PhaseCount `json:"phases"`
	CallsPerJob       float64               `json:"calls_per_job"`
	APIRequestsPerJob float64               `json:"api_requests_per_job"`
	// ByService sums the calls per job by service.
	ByService map[string]float64 `json:"calls_per_job_by_service"`
	// Writes: DynamoDB writes per operation and table ("PutItem jobs"),
	// with the item sizes and the write units they cost (GSI entries
	// included).
	Writes map[string]ItemWrites `json:"dynamodb_writes"`
	Usage  JobUsage              `json:"usage_per_job"`
	Cost   Cost                  `json:"usd_per_million_jobs"`
	// PerRunningMinute is what keeps a running job alive for a minute at the
	// default timings (heartbeats and lease timers; see the lease scenario).
	PerRunningMinute     float64 `json:"heartbeat_and_lease_calls_per_running_minute"`
	PerRunningMinuteCost Cost    `json:"usd_per_million_running_minutes"`
	// Background is calls per second that do not scale with jobs: stream
	// reads, reaper passes, empty long polls, heartbeats.
	Background map[string]float64 `json:"background_calls_per_second"`
	// Notes say how the figures were made.
	Notes []string `json:"notes,omitempty"`
}

// ItemWrites describes the writes of one operation to one table.
type ItemWrites struct {
	CallsPerJob      float64 `json:"calls_per_job"`
	AvgItemBytes     float64 `json:"avg_item_bytes"`
	MaxItemBytes     int64   `json:"max_item_bytes"`
	WriteUnitsPerJob float64 `json:"write_units_per_job"`
	// WriteUnitsPerCall is above ceil(size/1 KB) when the table's indexes
	// take entries too.
	WriteUnitsPerCall float64 `json:"write_units_per_call"`
}

// share is a part of a scenario's counts, divided by what it is per; keep,
// when set, selects the calls, requests and log lines (by phase) counted.
type share struct {
	window
	div  float64
	keep func(awscalls.Key) bool
}

// notLease keeps everything but the lease timers' calls: in a scenario's
// window they belong to jobs claimed long before (a timer fires a lease
// after the claim), and the lease scenario counts one final fire per job.
func notLease(k awscalls.Key) bool { return k.Phase != phaseLease }

func opName(k awscalls.Key) string {
	n := k.Service + "." + k.Operation
	if k.Resource != "" {
		n += " " + k.Resource
	}
	return n
}

// s3PutTier are the S3 operations billed at the PUT price; the rest of S3's
// requests are billed at the GET price.
var s3PutTier = []string{"PutObject", "PresignedPUT", "CopyObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PresignedPOST"}

// usageOf turns counted calls into billable units (DynamoDB Streams reads
// are free when a Lambda trigger makes them, which is how the farm reads
// its stream in AWS).
func usageOf(calls awscalls.Calls) JobUsage {
	var u JobUsage
	for _, e := range calls {
		switch e.Service {
		case "DynamoDB":
			u.DynamoDBWriteUnits += e.WriteUnits
			u.DynamoDBReadUnits += e.ReadUnits
		case "SQS":
			u.SQSRequests += float64(e.Attempts)
		case "S3":
			if slices.Contains(s3PutTier, e.Operation) {
				u.S3PutRequests += float64(e.Attempts)
			} else if e.Operation != "DeleteObject" {
				u.S3GetRequests += float64(e.Attempts)
			}
		}
	}
	return u
}

// builderRoutes are the API routes builders call; the rest (submissions)
// come from people and tools.
var builderRoutes = []string{
	"POST /v1/builders/{name}/claim", "POST /v1/builders/{name}/heartbeat", "PUT /v1/builders/{name}",
	"POST /v1/jobs/{id}/complete", "POST /v1/jobs/{id}/artifacts",
}

// edgeOf is the edge a route's requests take in AWS (topology.BuilderAPIEdge
// for builders' routes, the HTTP API for the rest).
func edgeOf(route string) topology.APIEdge {
	if slices.Contains(builderRoutes, route) {
		return topology.BuilderAPIEdge
	}
	return topology.EdgeHTTPAPI
}

// apiRequestUsage is n requests of route served by the api function for
// billedMillis in all: API Gateway requests unless the route's edge is the
// function URL, api invocations, and Lambda's platform log lines.
func apiRequestUsage(route string, n, billedMillis int64) JobUsage {
	u := JobUsage{
		LambdaInvocations:   float64(n),
		LambdaGBSeconds:     float64(billedMillis) / 1000 * apiMemoryGB,
		CloudWatchLogsBytes: float64(n) * platformLogBytes(topology.LambdaSystemLogLevel),
	}
	if edgeOf(route) == topology.EdgeFunctionURL {
		u.FunctionURLRequests = float64(n)
	} else {
		u.APIRequests = float64(n)
	}
	return u
}

// lambdaUsage is the Lambda and API Gateway use of a window: every API
// request an api invocation billed for its handler time (and an API
// Gateway request unless it takes the function URL); every stream batch
// with a record the dispatch filter passes a dispatch invocation
// (filteredStreamReads) and every delivered lease-timer batch
// a reaper invocation, billed (at least 1 ms) for their AWS calls' time;
// every invocation's platform log lines; and what the functions logged in
// the phases.
func lambdaUsage(w window, phases []string) JobUsage {
	var u JobUsage
	for route, r := range w.routes {
		if slices.Contains(phases, r.Phase) {
			u = u.Add(apiRequestUsage(route, r.Requests, r.BilledMillis))
		}
	}
	invocations := map[string]float64{}
	for _, e := range w.calls {
		switch {
		case e.Phase == phaseStream && e.Operation == "GetRecords" && slices.Contains(phases, phaseDispatch):
			invocations[phaseDispatch] += float64(e.NonEmpty)
		case e.Phase == phaseLease && e.Operation == "ReceiveMessage" && slices.Contains(phases, phaseLease):
			invocations[phaseLease] += float64(e.NonEmpty)
		}
	}
	for _, p := range []string{phaseDispatch, phaseLease} {
		n := invocations[p]
		if n == 0 {
			continue
		}
		sdk := float64(w.calls.Total(func(k awscalls.Key) bool { return k.Phase == p }).Nanos) / 1e9
		u.LambdaInvocations += n
		u.LambdaGBSeconds += max(sdk, n*0.001) * workerMemoryGB
		u.CloudWatchLogsBytes += n * platformLogBytes(topology.LambdaSystemLogLevel)
	}
	for p, l := range w.logs {
		if slices.Contains(phases, p) {
			u.CloudWatchLogsBytes += float64(l.Bytes)
		}
	}
	return u
}

// dynamoWrites are the DynamoDB operations that write items.
var dynamoWrites = []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

// newLifecycle counts one job's calls: parts are divided by their own
// denominators (jobs of the scenario, or lease timers fired); main's
// window also gives the background calls per second.
func newLifecycle(scenario string, jobs int, main share, extra ...share) Lifecycle {
	seconds := main.seconds
	l := Lifecycle{Scenario: scenario, Jobs: jobs, Phases: map[string]PhaseCount{}, ByService: map[string]float64{}, Background: map[string]float64{}, Writes: map[string]ItemWrites{}}
	type wacc struct {
		calls, bytes, max int64
		units             float64
		perJob            float64
	}
	writes := map[string]*wacc{}
	for _, s := range append([]share{main}, extra...) {
		if s.div <= 0 {
			continue
		}
		var kept awscalls.Calls
		for _, e := range s.calls {
			if !slices.Contains(jobPhases, e.Phase) || (s.keep != nil && !s.keep(e.Key)) {
				continue
			}
			kept = append(kept, e)
			pc := l.Phases[e.Phase]
			if pc.Calls == nil {
				pc.Calls = map[string]float64{}
			}
			v := float64(e.Calls) / s.div
			pc.Calls[opName(e.Key)] += v
			pc.Total += v
			pc.WriteUnits += e.WriteUnits / s.div
			l.Phases[e.Phase] = pc
			l.CallsPerJob += v
			l.ByService[e.Service] += v
			if e.Service == "DynamoDB" && slices.Contains(dynamoWrites, e.Operation) {
				wk := e.Operation + " " + e.Resource
				w := writes[wk]
				if w == nil {
					w = &wacc{}
					writes[wk] = w
				}
				w.calls += e.Calls
				w.bytes += e.ItemBytes
				w.max = max(w.max, e.MaxItemBytes)
				w.units += e.WriteUnits / s.div
				w.perJob += v
			}
		}
		phases := jobPhases
		if s.keep != nil {
			phases = nil
			for _, p := range jobPhases {
				if s.keep(awscalls.Key{Phase: p}) {
					phases = append(phases, p)
				}
			}
		}
		for _, r := range s.routes {
			if slices.Contains(phases, r.Phase) {
				pc := l.Phases[r.Phase]
				pc.APIRequests += float64(r.Requests) / s.div
				if pc.Calls == nil {
					pc.Calls = map[string]float64{}
				}
				l.Phases[r.Phase] = pc
				l.APIRequestsPerJob += float64(r.Requests) / s.div
			}
		}
		for p, ls := range s.logs {
			if slices.Contains(phases, p) {
				pc := l.Phases[p]
				if pc.Calls == nil {
					pc.Calls = map[string]float64{}
				}
				pc.LogBytes += float64(ls.Bytes) / s.div
				l.Phases[p] = pc
			}
		}
		// All the window's calls: its stream reads tell dispatch invocations.
		u := usageOf(kept).Add(lambdaUsage(s.window, phases))
		l.Usage = l.Usage.Add(u.Scale(1 / s.div))
	}
	if seconds > 0 {
		for _, e := range main.calls {
			if !slices.Contains(jobPhases, e.Phase) {
				l.Background[e.Phase] += float64(e.Calls) / seconds
			}
		}
		for k, v := range l.Background {
			l.Background[k] = round(v, 2)
		}
	}
	for table, w := range writes {
		iw := ItemWrites{CallsPerJob: round(w.perJob, 2), MaxItemBytes: w.max, WriteUnitsPerJob: round(w.units, 2)}
		if w.calls > 0 {
			iw.AvgItemBytes = round(float64(w.bytes)/float64(w.calls), 0)
		}
		if w.perJob > 0 {
			iw.WriteUnitsPerCall = round(w.units/w.perJob, 2)
		}
		l.Writes[table] = iw
	}
	l.Cost = ListPrices.PerMillion(l.Usage)
	l.roundAll()
	return l
}

func (l *Lifecycle) roundAll() {
	l.CallsPerJob = round(l.CallsPerJob, 2)
	l.APIRequestsPerJob = round(l.APIRequestsPerJob, 2)
	for k, v := range l.ByService {
		l.ByService[k] = round(v, 2)
	}
	for p, pc := range l.Phases {
		pc.Total = round(pc.Total, 2)
		pc.APIRequests = round(pc.APIRequests, 2)
		pc.WriteUnits = round(pc.WriteUnits, 2)
		pc.LogBytes = round(pc.LogBytes, 0)
		for k, v := range pc.Calls {
			pc.Calls[k] = round(v, 2)
		}
		l.Phases[p] = pc
	}
	l.Usage = l.Usage.rounded()
}

// apiLatency is, per AWS operation, calls per job and their mean duration.
type OpLatency struct {
	CallsPerJob  float64 `json:"calls_per_job"`
	MeanMillis   float64 `json:"mean_ms"`
	MillisPerJob float64 `json:"ms_per_job"`
}

// opLatencies summarizes the time of the calls of the given phases, per
// operation (without resources).
func opLatencies(calls awscalls.Calls, jobs int, phases []string) map[string]OpLatency {
	type acc struct{ calls, nanos int64 }
	m := map[string]*acc{}
	for _, e := range calls {
		if !slices.Contains(phases, e.Phase) || e.Nanos == 0 {
			continue
		}
		k := e.Service + "." + e.Operation
		a := m[k]
		if a == nil {
			a = &acc{}
			m[k] = a
		}
		a.calls += e.Calls
		a.nanos += e.Nanos
	}
	out := map[string]OpLatency{}
	for k, a := range m {
		out[k] = OpLatency{
			CallsPerJob:  round(float64(a.calls)/float64(jobs), 2),
			MeanMillis:   round(float64(a.nanos)/float64(a.calls)/1e6, 2),
			MillisPerJob: round(float64(a.nanos)/float64(jobs)/1e6, 2),
		}
	}
	return out
}

// timePerJob splits where a job's time goes: the API's handler time per
// phase and, inside it and in the dispatcher and agents, the AWS calls'
// time by service (long-poll waits excluded).
func timePerJob(calls awscalls.Calls, routes map[string]RouteStat, jobs int) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	get := func(p string) map[string]float64 {
		if out[p] == nil {
			out[p] = map[string]float64{}
		}
		return out[p]
	}
	for _, r := range routes {
		if slices.Contains(jobPhases, r.Phase) {
			get(r.Phase)["api_handler"] += float64(r.Nanos) / 1e6 / float64(jobs)
		}
	}
	for _, e := range calls {
		if slices.Contains(jobPhases, e.Phase) && e.Nanos > 0 {
			svc := strings.ReplaceAll(e.Service, " ", "")
			get(e.Phase)[svc] += float64(e.Nanos) / 1e6 / float64(jobs)
		}
	}
	for _, m := range out {
		for k, v := range m {
			m[k] = round(v, 2)
		}
	}
	return out
}
