package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Measured is what the model takes from bench.json: one job's counted
// calls and billable units, measured by scripts/bench.
type Measured struct {
	// Source says which run: date, mode, commit when recorded.
	Source   string
	Scenario string
	// Per job.
	CallsPerJob       float64
	APIRequestsPerJob float64
	WriteUnitsPerJob  float64
	ReadUnitsPerJob   float64
	SQSRequests       float64
	S3Puts, S3Gets    float64
	LambdaInvocations float64
	LambdaGBSeconds   float64
	// DispatchQueriesPerJob counts the queries of the dispatch index per
	// job (claims, those answered 204 included); DispatchQueriesMeasured is
	// false when bench.json did not break calls down by index (then 1, the
	// least a claim needs).
	DispatchQueriesPerJob   float64
	DispatchQueriesMeasured bool
	// TableWriteUnitsPerJob: per table, its GSI entries included.
	TableWriteUnitsPerJob map[string]float64
	// JobItemBytes is the average job item written (0: not recorded).
	JobItemBytes float64
	// OtherUSDPerMillion is the bench's cost of everything but DynamoDB
	// and API Gateway (SQS, S3, Lambda, and whatever else it prices).
	OtherUSDPerMillion float64
	// Prices are the bench's on-demand list prices.
	Prices Prices
	// HeartbeatsPerRunningMinute of one running job (API requests).
	HeartbeatsPerRunningMinute float64
	// Load is the many-builder run on the emulator, when bench.json has one.
	Load *LoadFigures
	// Notes say where a figure came from when bench.json lacked the preferred one.
	Notes []string
}

// Prices are the bench's prices (cmd/farm-bench/prices.go), as bench.json records them.
type Prices struct {
	Region                   string  `json:"region"`
	AsOf                     string  `json:"as_of"`
	DynamoDBWriteUnitPerM    float64 `json:"dynamodb_write_request_unit_per_million"`
	DynamoDBReadUnitPerM     float64 `json:"dynamodb_read_request_unit_per_million"`
	APIGatewayHTTPPerMillion float64 `json:"api_gateway_http_api_request_per_million"`
}

// LoadFigures are the bench's load mode's headline figures.
type LoadFigures struct {
	Date                    string  `json:"date"`
	Builders                int     `json:"builders"`
	ClaimsInFlight          int     `json:"claims_in_flight"`
	ClaimsPerSecondS1       float64 `json:"claims_per_second_s1"`
	ClaimsPerSecondS4       float64 `json:"claims_per_second_s4"`
	PriorityFractionS4      float64 `json:"priority_fraction_s4"`
	CeilingWritesPerSecond  float64 `json:"emulator_ceiling_conditional_writes_per_second"`
	CeilingQueriesPerSecond float64 `json:"emulator_ceiling_queries_per_second"`
}

// usage is a usage_per_job object.
type usage struct {
	WriteUnits        *float64 `json:"dynamodb_write_request_units"`
	ReadUnits         *float64 `json:"dynamodb_read_request_units"`
	SQSRequests       float64  `json:"sqs_requests"`
	S3Puts            float64  `json:"s3_put_requests"`
	S3Gets            float64  `json:"s3_get_requests"`
	APIRequests       float64  `json:"api_gateway_requests"`
	LambdaInvocations float64  `json:"lambda_invocations"`
	LambdaGBSeconds   float64  `json:"lambda_gb_seconds"`
}

type phase struct {
	Total       float64            `json:"total"`
	APIRequests float64            `json:"api_requests"`
	Calls       map[string]float64 `json:"calls"`
	// Write/read units by phase, when the bench records them.
	WriteUnits *float64 `json:"write_request_units_per_job"`
	ReadUnits  *float64 `json:"read_request_units_per_job"`
}

type lifecycleJSON struct {
	Jobs        int              `json:"jobs"`
	CallsPerJob float64          `json:"calls_per_job"`
	APIRequests float64          `json:"api_requests_per_job"`
	Phases      map[string]phase `json:"phases"`
	Usage       usage            `json:"usage_per_job"`
	// The bench may record units per job apart from usage_per_job.
	WriteUnits *float64 `json:"write_request_units_per_job"`
	ReadUnits  *float64 `json:"read_request_units_per_job"`
	Writes     map[string]struct {
		AvgItemBytes     float64 `json:"avg_item_bytes"`
		WriteUnitsPerJob float64 `json:"write_units_per_job"`
	} `json:"dynamodb_writes"`
	USD map[string]float64 `json:"usd_per_million_jobs"`
}

type benchJSON struct {
	Environment struct {
		Date   string `json:"date"`
		Mode   string `json:"mode"`
		Commit string `json:"git_commit"`
	} `json:"environment"`
	Commit     string                    `json:"git_commit"`
	WriteUnits *float64                  `json:"write_request_units_per_job"`
	Lifecycle  map[string]*lifecycleJSON `json:"lifecycle"`
	Prices     Prices                    `json:"prices"`
	Lease      *struct {
		HeartbeatsPerMinute float64 `json:"heartbeats_per_minute"`
	} `json:"heartbeats_and_lease_timers"`
	Load *LoadFigures `json:"load"`
}

// dispatchIndexCall tells a counted call of the dispatch index's queries
// ("DynamoDB.Query <table>/<index>").
func dispatchIndexCall(call, index string) bool {
	return strings.HasPrefix(call, "DynamoDB.Query ") && strings.HasSuffix(call, "/"+index)
}

// parseBench reads bench.json, tolerant of figures a run lacks: scenario
// is the lifecycle to model ("saturated", else "idle", else any).
func parseBench(b []byte, scenario, dispatchIndex string) (*Measured, error) {
	var in benchJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("bench.json: %w", err)
	}
	m := &Measured{Prices: in.Prices, Load: in.Load, HeartbeatsPerRunningMinute: 6, TableWriteUnitsPerJob: map[string]float64{}}
	names := append([]string{scenario, "saturated", "idle"}, slicesSorted(in.Lifecycle)...)
	var l *lifecycleJSON
	for _, n := range names {
		if l = in.Lifecycle[n]; l != nil {
			m.Scenario = n
			break
		}
	}
	if l == nil {
		return nil, fmt.Errorf("bench.json has no lifecycle (calls per job): run scripts/bench first")
	}
	commit := in.Environment.Commit
	if commit == "" {
		commit = in.Commit
	}
	m.Source = fmt.Sprintf("bench.json of %s (%s mode", in.Environment.Date, in.Environment.Mode)
	if commit != "" {
		m.Source += ", commit " + commit[:min(len(commit), 12)]
	}
	m.Source += fmt.Sprintf(", lifecycle %q: %d jobs)", m.Scenario, l.Jobs)
	m.CallsPerJob, m.APIRequestsPerJob = l.CallsPerJob, l.APIRequests
	if m.APIRequestsPerJob == 0 {
		m.APIRequestsPerJob = l.Usage.APIRequests
	}
	u := l.Usage
	m.SQSRequests, m.S3Puts, m.S3Gets, m.LambdaInvocations, m.LambdaGBSeconds = u.SQSRequests, u.S3Puts, u.S3Gets, u.LambdaInvocations, u.LambdaGBSeconds

	var phaseW, phaseR *float64
	for _, n := range slicesSorted(l.Phases) {
		p := l.Phases[n]
		phaseW, phaseR = addOpt(phaseW, p.WriteUnits), addOpt(phaseR, p.ReadUnits)
		for call, v := range p.Calls {
			if dispatchIndexCall(call, dispatchIndex) {
				m.DispatchQueriesPerJob += v
				m.DispatchQueriesMeasured = true
			}
		}
	}
	var ok bool
	if m.WriteUnitsPerJob, ok = first(l.WriteUnits, phaseW, u.WriteUnits, in.WriteUnits); !ok {
		return nil, fmt.Errorf("bench.json: no DynamoDB write units per job in lifecycle %q", m.Scenario)
	}
	if l.WriteUnits == nil && phaseW == nil {
		m.Notes = append(m.Notes, "write units per job: usage_per_job.dynamodb_write_request_units (no write_request_units_per_job recorded)")
	}
	if m.ReadUnitsPerJob, ok = first(l.ReadUnits, phaseR, u.ReadUnits); !ok {
		return nil, fmt.Errorf("bench.json: no DynamoDB read units per job in lifecycle %q", m.Scenario)
	}
	if !m.DispatchQueriesMeasured {
		m.DispatchQueriesPerJob = 1
		m.Notes = append(m.Notes, "dispatch index queries per job: not broken down in bench.json; 1 assumed (one claim, no empty ones)")
	}
	for table, w := range l.Writes {
		m.TableWriteUnitsPerJob[table] = w.WriteUnitsPerJob
		if table == "jobs" {
			m.JobItemBytes = w.AvgItemBytes
		}
	}
	if l.USD != nil {
		m.OtherUSDPerMillion = l.USD["total"] - l.USD["dynamodb"] - l.USD["api_gateway"]
	}
	if in.Lease != nil && in.Lease.HeartbeatsPerMinute > 0 {
		m.HeartbeatsPerRunningMinute = in.Lease.HeartbeatsPerMinute
	}
	if m.Prices.DynamoDBWriteUnitPerM == 0 || m.Prices.APIGatewayHTTPPerMillion == 0 {
		return nil, fmt.Errorf("bench.json: no prices")
	}
	return m, nil
}

// first returns the first value set.
func first(vs ...*float64) (float64, bool) {
	for _, v := range vs {
		if v != nil && !math.IsNaN(*v) {
			return *v, true
		}
	}
	return 0, false
}

func addOpt(sum, v *float64) *float64 {
	if v == nil {
		return sum
	}
	if sum == nil {
		s := *v
		return &s
	}
	s := *sum + *v
	return &s
}

func slicesSorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
