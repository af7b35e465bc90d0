package main

import (
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// jobPhases are the phases every job goes through once: their calls are
// counted per job. The others are time-based (per second or per minute).
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
	// Writes: DynamoDB PutItem per table, with recorded item sizes and the
	// write units they cost (GSI entries included).
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

// ItemWrites describes the PutItem calls to one table.
type ItemWrites struct {
	CallsPerJob      float64 `json:"calls_per_job"`
	AvgItemBytes     float64 `json:"avg_item_bytes"`
	MaxItemBytes     int64   `json:"max_item_bytes"`
	WriteUnitsPerJob float64 `json:"write_units_per_job"`
	// WriteUnitsPerCall is above ceil(size/1 KB) when the table's indexes
	// take entries too (the jobs table has 7 GSIs projecting every attribute).
	WriteUnitsPerCall float64 `json:"write_units_per_call"`
}

// share is a part of a scenario's counts, divided by what it is per.
type share struct {
	calls  awscalls.Calls
	routes map[string]RouteStat
	div    float64
	keep   func(awscalls.Key) bool
}

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

// lambdaUsage is the Lambda and API Gateway use of a window: every API
// request is an API Gateway request and an api invocation billed for its
// handler time; every non-empty stream batch is a dispatch invocation and
// every delivered lease-timer batch a reaper invocation, billed (at least)
// for their AWS calls' time.
func lambdaUsage(calls awscalls.Calls, routes map[string]RouteStat, phases []string) JobUsage {
	var u JobUsage
	for _, r := range routes {
		if slices.Contains(phases, r.Phase) {
			u.APIRequests += float64(r.Requests)
			u.LambdaInvocations += float64(r.Requests)
			u.LambdaGBSeconds += float64(r.BilledMillis) / 1000 * apiMemoryGB
		}
	}
	invocations := map[string]float64{}
	for _, e := range calls {
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
		sdk := float64(calls.Total(func(k awscalls.Key) bool { return k.Phase == p }).Nanos) / 1e9
		u.LambdaInvocations += n
		u.LambdaGBSeconds += max(sdk, n*0.001) * workerMemoryGB
	}
	return u
}

// newLifecycle counts one job's calls: parts are divided by their own
// denominators (jobs of the scenario, or lease timers fired).
func newLifecycle(scenario string, jobs int, seconds float64, main share, extra ...share) Lifecycle {
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
			l.Phases[e.Phase] = pc
			l.CallsPerJob += v
			l.ByService[e.Service] += v
			if e.Service == "DynamoDB" && e.Operation == "PutItem" {
				w := writes[e.Resource]
				if w == nil {
					w = &wacc{}
					writes[e.Resource] = w
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
		u := usageOf(kept).Add(lambdaUsage(s.calls, s.routes, phases))
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
