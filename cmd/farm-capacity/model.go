package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
)

// Limit is one ceiling on jobs per second, with what sets it.
type Limit struct {
	Name       string
	JobsPerSec float64
	// Why: the load per job against the quota.
	Why string
}

// Bounds are the ceilings of one pool width, lowest first.
type Bounds struct {
	Shards int
	// Pool: a single pool's ceilings (the stack's included); Stack: the
	// stack's own (pools spread over enough partition keys).
	Pool, Stack []Limit
	// Dispatch is the pool's ceiling from its dispatch index alone (what
	// sharding changes).
	Dispatch Limit
	// MaxRunningJobs is how many jobs may run at once before their
	// heartbeats alone fill a shared partition key (0: none limits it).
	MaxRunningJobs float64
	RunningWhy     string
}

// Model is everything docs/capacity.md says.
type Model struct {
	M         *Measured
	ClaimScan int
	Heartbeat float64 // seconds
	// DispatchEntryBytes is a dispatch index entry as a query reads it.
	DispatchEntryBytes float64
	Widths             []int
	Bounds             []Bounds
	HotKeys            map[int][]HotKey
	Rates              []float64
	Costs              []Cost
}

// readUnitsPerQuery is what one eventually consistent index query
// returning n entries of entryBytes costs: one read unit per started
// 4 KB, halved, at least half a unit.
func readUnitsPerQuery(n int, entryBytes float64) float64 {
	return math.Max(1, math.Ceil(float64(n)*entryBytes/4096)) / 2
}

// partitionBound is how many jobs a second one partition key takes when
// each job puts perJob units on it.
func partitionBound(quota, perJob float64) float64 {
	if perJob <= 0 {
		return math.Inf(1)
	}
	return quota / perJob
}

// bounds computes the ceilings at one width from the hot keys and the measured figures.
func (m *Model) bounds(shards int, keys []HotKey) Bounds {
	b := Bounds{Shards: shards}
	me := m.M
	for _, k := range keys {
		perJob := k.WriteUnitsPerJob
		name := fmt.Sprintf("writes on %s = %q", k.Key, k.Value)
		if k.Scope == ScopePoolShard {
			// Each job lands on one of the shards.
			perJob /= float64(shards)
			name = fmt.Sprintf("writes on each of %d %s shards", shards, k.Key)
		}
		if perJob > 0 {
			l := Limit{Name: k.Index + ": " + name, JobsPerSec: partitionBound(PartitionWriteUnits.Value, perJob),
				Why: fmt.Sprintf("%s WU per job on one partition key (%s); %s", num(perJob), k.Scope, fmtQuota(PartitionWriteUnits))}
			if k.Scope == ScopePool || k.Scope == ScopePoolShard {
				b.Pool = append(b.Pool, l)
			} else {
				b.Stack = append(b.Stack, l)
			}
		}
		if k.WriteUnitsPerHeartbeat > 0 {
			perSecond := k.WriteUnitsPerHeartbeat / m.Heartbeat
			if running := PartitionWriteUnits.Value / perSecond; b.MaxRunningJobs == 0 || running < b.MaxRunningJobs {
				b.MaxRunningJobs = running
				b.RunningWhy = fmt.Sprintf("%s: each running job's heartbeat (every %s s) writes %s WU on %s = %q (%s)",
					k.Index, num(m.Heartbeat), num(k.WriteUnitsPerHeartbeat), k.Key, k.Value, k.Scope)
			}
		}
	}
	// Every claim queries each shard's head: reads do not spread with S.
	rq := readUnitsPerQuery(m.ClaimScan, m.DispatchEntryBytes)
	perJob := me.DispatchQueriesPerJob * rq
	b.Pool = append(b.Pool, Limit{Name: "by-pool-queue: reads on each shard", JobsPerSec: partitionBound(PartitionReadUnits.Value, perJob),
		Why: fmt.Sprintf("%s dispatch queries per job × %s RU (up to %d entries of %s B), on every shard; %s",
			num(me.DispatchQueriesPerJob), num(rq), m.ClaimScan, num(m.DispatchEntryBytes), fmtQuota(PartitionReadUnits))})
	for _, l := range b.Pool {
		if strings.HasPrefix(l.Name, dynamostore.IndexQueued+":") && (b.Dispatch.Name == "" || l.JobsPerSec < b.Dispatch.JobsPerSec) {
			b.Dispatch = l
		}
	}

	for _, table := range slicesSorted(me.TableWriteUnitsPerJob) {
		if w := me.TableWriteUnitsPerJob[table]; w > 0 {
			b.Stack = append(b.Stack, Limit{Name: "table " + table + ": writes", JobsPerSec: TableUnits.Value / w,
				Why: fmt.Sprintf("%s WU per job (its indexes included); %s", num(w), fmtQuota(TableUnits))})
		}
	}
	if len(me.TableWriteUnitsPerJob) == 0 {
		b.Stack = append(b.Stack, Limit{Name: "tables: writes (all tables as one)", JobsPerSec: TableUnits.Value / me.WriteUnitsPerJob,
			Why: fmt.Sprintf("%s WU per job; %s", num(me.WriteUnitsPerJob), fmtQuota(TableUnits))})
	}
	b.Stack = append(b.Stack,
		Limit{Name: "tables: reads (all tables as one)", JobsPerSec: TableUnits.Value / me.ReadUnitsPerJob,
			Why: fmt.Sprintf("%s RU per job; %s", num(me.ReadUnitsPerJob), fmtQuota(TableUnits))},
		Limit{Name: "API Gateway", JobsPerSec: APIGatewayRPS.Value / me.APIRequestsPerJob,
			Why: fmt.Sprintf("%s requests per job; %s", num(me.APIRequestsPerJob), fmtQuota(APIGatewayRPS))},
		Limit{Name: "Lambda concurrency", JobsPerSec: LambdaConcurrency.Value / m.lambdaSecondsPerJob(),
			Why: fmt.Sprintf("%s s of Lambda per job (%s GB-s measured ÷ %s GB); %s", num(m.lambdaSecondsPerJob()), num(me.LambdaGBSeconds), num(lambdaSmallestGB), fmtQuota(LambdaConcurrency))},
	)
	byRate := func(a, b Limit) int { return compareFloat(a.JobsPerSec, b.JobsPerSec) }
	slices.SortStableFunc(b.Stack, byRate)
	b.Pool = append(b.Pool, b.Stack...)
	slices.SortStableFunc(b.Pool, byRate)
	return b
}

// lambdaSecondsPerJob bounds a job's Lambda time from above.
func (m *Model) lambdaSecondsPerJob() float64 {
	return m.M.LambdaGBSeconds / lambdaSmallestGB
}

// Cost is the price of a million jobs at one steady rate.
type Cost struct {
	Rate float64
	// USD per million jobs: DynamoDB on-demand, DynamoDB provisioned,
	// API Gateway (tiered by the month's volume), the rest (the bench's).
	OnDemandDynamoDB, ProvisionedDynamoDB, APIGateway, Other float64
	// Totals per million jobs, and per 30-day month at this rate.
	OnDemandTotal, ProvisionedTotal float64
	OnDemandMonth, ProvisionedMonth float64
	// What the rate needs: provisioned units, Lambda concurrency, API requests/s.
	WCU, RCU, Concurrency, APIRequestsPerSec float64
}

// provisionedFloor is the capacity a provisioned table and each of its
// indexes keep at least (1 RCU and 1 WCU each).
func provisionedFloor(tablesAndIndexes int) float64 { return float64(tablesAndIndexes) }

// apiGatewayUSDPerMillion is the month's API Gateway bill per million
// jobs at rate jobs/s: the first 300 million requests at the bench's
// price, the rest at the lower tier.
func apiGatewayUSDPerMillion(rate, requestsPerJob, firstTierPerM float64) float64 {
	month := rate * requestsPerJob * secondsPerMonth
	bill := math.Min(month, apiGatewayTier1Requests)/1e6*firstTierPerM + math.Max(0, month-apiGatewayTier1Requests)/1e6*apiGatewayTier2PerM
	return bill / (rate * secondsPerMonth / 1e6)
}

// cost prices a million jobs at a steady rate.
func (m *Model) cost(rate float64, floor int) Cost {
	me := m.M
	c := Cost{Rate: rate, Other: me.OtherUSDPerMillion}
	c.OnDemandDynamoDB = me.WriteUnitsPerJob*me.Prices.DynamoDBWriteUnitPerM + me.ReadUnitsPerJob*me.Prices.DynamoDBReadUnitPerM
	c.WCU = math.Max(rate*me.WriteUnitsPerJob/provisionedUtilization, provisionedFloor(floor))
	c.RCU = math.Max(rate*me.ReadUnitsPerJob/provisionedUtilization, provisionedFloor(floor))
	perHour := c.WCU*provisionedWCUHour + c.RCU*provisionedRCUHour
	c.ProvisionedDynamoDB = perHour / (rate * 3600) * 1e6
	c.APIGateway = apiGatewayUSDPerMillion(rate, me.APIRequestsPerJob, me.Prices.APIGatewayHTTPPerMillion)
	c.OnDemandTotal = c.OnDemandDynamoDB + c.APIGateway + c.Other
	c.ProvisionedTotal = c.ProvisionedDynamoDB + c.APIGateway + c.Other
	jobsPerMonth := rate * secondsPerMonth / 1e6
	c.OnDemandMonth, c.ProvisionedMonth = c.OnDemandTotal*jobsPerMonth, c.ProvisionedTotal*jobsPerMonth
	c.Concurrency = rate * m.lambdaSecondsPerJob()
	c.APIRequestsPerSec = rate * me.APIRequestsPerJob
	return c
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fmtQuota(q Quota) string {
	return fmt.Sprintf("quota %s %s", num(q.Value), q.Unit)
}

// num formats a figure: whole numbers with thousands separators, others
// with up to 3 significant decimals.
func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "∞"
	case v >= 100 || v == math.Trunc(v):
		return thousands(int64(math.Round(v)))
	case v >= 10:
		return trimZeros(fmt.Sprintf("%.1f", v))
	case v >= 1:
		return trimZeros(fmt.Sprintf("%.2f", v))
	}
	return trimZeros(fmt.Sprintf("%.3f", v))
}

func trimZeros(s string) string {
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := ""
	for len(s) > 3 {
		out = "," + s[len(s)-3:] + out
		s = s[:len(s)-3]
	}
	out = s + out
	if neg {
		out = "-" + out
	}
	return out
}

// usd formats dollars.
func usd(v float64) string {
	switch {
	case v >= 1000:
		return "$" + thousands(int64(math.Round(v)))
	case v >= 10:
		return fmt.Sprintf("$%.1f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}
