package main

import (
	"os"
	"strings"
	"testing"
)

const minimalBench = `{"environment":{"date":"2026-11-23T00:00:00Z","mode":"quick"},
 "prices":{"region":"us-east-1","as_of":"2026-11-23","dynamodb_write_request_unit_per_million":0.625,"dynamodb_read_request_unit_per_million":0.125,"api_gateway_http_api_request_per_million":1},
 "lifecycle":{"idle":{"jobs":8,"calls_per_job":7,"api_requests_per_job":3,
   "phases":{"claim":{"total":3,"calls":{"DynamoDB.Query jobs/by-pool-queue":1.5,"DynamoDB.GetItem jobs":1}%s}},
   "usage_per_job":{"dynamodb_write_request_units":9,"dynamodb_read_request_units":4,"api_gateway_requests":3,"lambda_gb_seconds":0.01},
   "usd_per_million_jobs":{"total":12,"dynamodb":6,"api_gateway":3,"sqs":1,"cloudwatch_logs":2}%s}}}`

func TestParseBenchIsTolerant(t *testing.T) {
	t.Parallel()
	m, err := parseBench([]byte(strings.Replace(strings.Replace(minimalBench, "%s", "", 1), "%s", "", 1)), "idle", "by-pool-queue")
	if err != nil {
		t.Fatal(err)
	}
	if m.WriteUnitsPerJob != 9 || m.ReadUnitsPerJob != 4 || len(m.Notes) != 1 {
		t.Errorf("fallback to usage_per_job: %+v", m)
	}
	if m.DispatchQueriesPerJob != 1.5 || !m.DispatchQueriesMeasured || m.OtherUSDPerMillion != 3 || m.HeartbeatsPerRunningMinute != 6 {
		t.Errorf("queries %v (measured %v), other $%v, heartbeats %v", m.DispatchQueriesPerJob, m.DispatchQueriesMeasured, m.OtherUSDPerMillion, m.HeartbeatsPerRunningMinute)
	}
	byPhase := strings.Replace(strings.Replace(minimalBench, "%s", `,"write_request_units_per_job":5.5`, 1), "%s", "", 1)
	if m, err := parseBench([]byte(byPhase), "idle", "by-pool-queue"); err != nil || m.WriteUnitsPerJob != 5.5 {
		t.Errorf("write units by phase: %v, %v", m, err)
	}
	both := strings.Replace(strings.Replace(minimalBench, "%s", `,"write_request_units_per_job":5.5`, 1), "%s", `,"write_request_units_per_job":6.5`, 1)
	if m, err := parseBench([]byte(both), "saturated", "by-pool-queue"); err != nil || m.WriteUnitsPerJob != 6.5 || m.Scenario != "idle" {
		t.Errorf("the lifecycle's own figure first, and a missing scenario falls back: %v, %v", m, err)
	}
	if _, err := parseBench([]byte(`{"lifecycle":{}}`), "idle", "by-pool-queue"); err == nil || !strings.Contains(err.Error(), "scripts/bench") {
		t.Errorf("no lifecycle: %v", err)
	}
}

// The committed docs/capacity.md is what the program writes from the
// committed bench.json and the code: rerun it after either changes
// (go run ./cmd/farm-capacity).
func TestCapacityDocIsGenerated(t *testing.T) {
	t.Parallel()
	want, err := generate("../../bench.json", "idle")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/capacity.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("docs/capacity.md is not what cmd/farm-capacity writes from bench.json: run `go run ./cmd/farm-capacity`")
	}
}
