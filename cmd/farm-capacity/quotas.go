package main

// AWS quotas and the prices bench.json does not carry, written down with
// their date and source (us-east-1 defaults; not fetched live — check
// before quoting). The on-demand prices come from bench.json (the bench's
// cmd/farm-bench/prices.go), so both figures use the same list.
const quotasAsOf = "2026-12-02"

// Quota is one limit with where it comes from.
type Quota struct {
	Name   string
	Value  float64
	Unit   string
	Source string
}

var (
	// Per partition key (table or index), whatever the capacity mode.
	PartitionWriteUnits = Quota{"DynamoDB partition writes", 1000, "write units/s per partition key",
		"DynamoDB Developer Guide, Best practices for designing and using partition keys (bp-partition-key-design)"}
	PartitionReadUnits = Quota{"DynamoDB partition reads", 3000, "read units/s per partition key",
		"DynamoDB Developer Guide, Best practices for designing and using partition keys (bp-partition-key-design)"}
	// Per table (its GSIs included): on-demand's default table-level
	// throughput (adjustable); provisioned tables share an account quota.
	TableUnits = Quota{"DynamoDB table throughput (on-demand)", 40000, "read or write request units/s per table",
		"DynamoDB Developer Guide, Quotas: Read/write throughput (default, adjustable)"}
	AccountProvisionedUnits = Quota{"DynamoDB account throughput (provisioned)", 80000, "read or write capacity units per account and region",
		"DynamoDB Developer Guide, Quotas: Read/write throughput (default, adjustable)"}
	APIGatewayRPS = Quota{"API Gateway requests", 10000, "requests/s per account and region (burst 5,000)",
		"API Gateway Developer Guide, Quotas: account-level throttling (default, adjustable)"}
	LambdaConcurrency = Quota{"Lambda concurrency", 1000, "concurrent executions per account and region",
		"Lambda Developer Guide, Quotas: concurrent executions (default, adjustable)"}
)

// SQS standard queues have no throughput quota to model: "nearly
// unlimited" API calls per second per action, and 120,000 messages in
// flight per queue (a doorbell is in flight for the moments between a
// builder's receive and its delete). Source: SQS Developer Guide, Quotas.
const sqsNote = "SQS standard queues: nearly unlimited requests per second per action; at most 120,000 messages in flight per queue (a doorbell is in flight only between a builder's receive and its delete). Not a limit here."

// Provisioned capacity prices, us-east-1 (DynamoDB pricing page,
// provisioned capacity, standard table class), and the share of it a
// steady load may use (DynamoDB auto scaling's default target).
const (
	provisionedWCUHour     = 0.00065
	provisionedRCUHour     = 0.00013
	provisionedUtilization = 0.70
)

// API Gateway HTTP API requests past 300 million a month cost less
// (API Gateway pricing page, HTTP APIs, us-east-1).
const (
	apiGatewayTier1Requests = 300e6
	apiGatewayTier2PerM     = 0.90
)

// lambdaSmallestGB is the memory of the farm's smallest function (the
// dispatcher and reaper: 256 MB; the api function has 512 MB): dividing
// the measured GB-seconds by it bounds a job's Lambda seconds from above.
const lambdaSmallestGB = 0.25

// secondsPerMonth is a 30-day month.
const secondsPerMonth = 30 * 24 * 3600
