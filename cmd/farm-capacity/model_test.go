package main

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestReadUnitsPerQuery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n     int
		bytes float64
		want  float64
	}{
		{25, 483, 1.5}, // 12,075 B: 3 blocks of 4 KB, halved
		{8, 483, 0.5},  // 3,864 B: one block
		{0, 483, 0.5},  // an empty query still costs half a unit
		{9, 4096, 4.5}, // 36 KB
	} {
		if got := readUnitsPerQuery(c.n, c.bytes); !near(got, c.want) {
			t.Errorf("readUnitsPerQuery(%d, %v) = %v, want %v", c.n, c.bytes, got, c.want)
		}
	}
}

func TestPartitionBound(t *testing.T) {
	t.Parallel()
	if got := partitionBound(1000, 2); got != 500 {
		t.Errorf("1000 WU/s at 2 WU per job = %v jobs/s", got)
	}
	if !math.IsInf(partitionBound(1000, 0), 1) {
		t.Error("no load on a key bounds nothing")
	}
}

func TestAPIGatewayTiers(t *testing.T) {
	t.Parallel()
	// 1 job/s × 5 requests = 12.96 M requests a month: first tier only.
	if got := apiGatewayUSDPerMillion(1, 5, 1.00); !near(got, 5) {
		t.Errorf("first tier: %v per million jobs, want 5", got)
	}
	// 1,000 jobs/s × 5 = 12,960 M a month: 300 M at $1.00, 12,660 M at $0.90,
	// over 2,592 M jobs.
	want := (300*1.00 + 12660*0.90) / 2592
	if got := apiGatewayUSDPerMillion(1000, 5, 1.00); !near(got, want) {
		t.Errorf("second tier: %v per million jobs, want %v", got, want)
	}
}

func testModel() *Model {
	me := &Measured{WriteUnitsPerJob: 7, ReadUnitsPerJob: 3.5, APIRequestsPerJob: 4, LambdaGBSeconds: 0.05, DispatchQueriesPerJob: 1,
		OtherUSDPerMillion: 2, TableWriteUnitsPerJob: map[string]float64{"jobs": 5, "events": 2},
		Prices: Prices{DynamoDBWriteUnitPerM: 0.625, DynamoDBReadUnitPerM: 0.125, APIGatewayHTTPPerMillion: 1}}
	return &Model{M: me, ClaimScan: 25, Heartbeat: 10, DispatchEntryBytes: 483}
}

func TestCost(t *testing.T) {
	t.Parallel()
	m := testModel()
	c := m.cost(100, 40)
	if !near(c.OnDemandDynamoDB, 7*0.625+3.5*0.125) {
		t.Errorf("on-demand DynamoDB per million jobs %v", c.OnDemandDynamoDB)
	}
	// 700 WU/s and 350 RU/s at 70%: 1,000 WCU and 500 RCU.
	if !near(c.WCU, 1000) || !near(c.RCU, 500) {
		t.Errorf("provisioned %v WCU / %v RCU, want 1000 / 500", c.WCU, c.RCU)
	}
	perHour := 1000*provisionedWCUHour + 500*provisionedRCUHour
	if !near(c.ProvisionedDynamoDB, perHour/(100*3600)*1e6) {
		t.Errorf("provisioned DynamoDB per million jobs %v", c.ProvisionedDynamoDB)
	}
	if !near(c.OnDemandTotal, c.OnDemandDynamoDB+c.APIGateway+2) || !near(c.OnDemandMonth, c.OnDemandTotal*100*secondsPerMonth/1e6) {
		t.Errorf("totals %+v", c)
	}
	if !near(c.Concurrency, 100*0.05/lambdaSmallestGB) || !near(c.APIRequestsPerSec, 400) {
		t.Errorf("needs %v concurrency, %v requests/s", c.Concurrency, c.APIRequestsPerSec)
	}
	// At 1 job/s the tables' and indexes' minimum capacity is what is paid.
	if low := m.cost(1, 40); low.WCU != 40 || low.RCU != 40 {
		t.Errorf("floor: %v WCU / %v RCU, want 40 / 40", low.WCU, low.RCU)
	}
}

func TestBoundsShardsSpreadWritesNotReads(t *testing.T) {
	t.Parallel()
	m := testModel()
	keys := func(scope Scope) []HotKey {
		return []HotKey{
			{Index: dynamostore.IndexQueued, Key: "queue_pool", Value: "default", Scope: scope, WriteUnitsPerJob: 2},
			{Index: "by-status", Key: "status", Value: "queued", Scope: ScopeStack, WriteUnitsPerJob: 1},
			{Index: "by-lease", Key: "active_shard", Value: "active", Scope: ScopeStack, WriteUnitsPerHeartbeat: 2},
		}
	}
	one := m.bounds(1, keys(ScopePool))
	// Reads: 1 query × 1.5 RU per job against 3,000: 2,000 jobs/s at any width.
	if one.Pool[0].JobsPerSec != 500 || !strings.Contains(one.Pool[0].Name, dynamostore.IndexQueued) || one.Dispatch.JobsPerSec != 500 {
		t.Errorf("S=1: pool bound %+v, dispatch %+v", one.Pool[0], one.Dispatch)
	}
	four := m.bounds(4, keys(ScopePoolShard))
	if four.Dispatch.JobsPerSec != 2000 || four.Pool[0].JobsPerSec != 1000 || four.Pool[0].Name != four.Stack[0].Name {
		t.Errorf("S=4: dispatch %+v, pool %+v, stack %+v", four.Dispatch, four.Pool[0], four.Stack[0])
	}
	sixteen := m.bounds(16, keys(ScopePoolShard))
	if sixteen.Dispatch.JobsPerSec != 2000 || !strings.Contains(sixteen.Dispatch.Name, "reads") {
		t.Errorf("S=16: the dispatch index's reads bind: %+v", sixteen.Dispatch)
	}
	// 2 WU per heartbeat every 10 s: 0.2 WU/s per running job, 5,000 running jobs.
	if one.MaxRunningJobs != 5000 {
		t.Errorf("max running jobs %v", one.MaxRunningJobs)
	}
	for _, l := range append(one.Stack, four.Stack...) {
		if strings.Contains(l.Name, dynamostore.IndexQueued) {
			t.Errorf("a pool's key is among the stack's limits: %+v", l)
		}
	}
	for _, b := range []Bounds{one, four, sixteen} {
		if !slices.IsSortedFunc(b.Pool, func(x, y Limit) int { return compareFloat(x.JobsPerSec, y.JobsPerSec) }) {
			t.Errorf("S=%d: limits not in the order they break: %+v", b.Shards, b.Pool)
		}
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func TestEntryWrites(t *testing.T) {
	t.Parallel()
	keysOnly := dynamostore.Index{Name: "k", Partition: dynamostore.Key{Name: "pk"}, Sort: &dynamostore.Key{Name: "sk"}, Projection: dynamostore.ProjectKeysOnly}
	all := keysOnly
	all.Projection = dynamostore.ProjectAll
	include := keysOnly
	include.Projection, include.NonKeyAttributes = dynamostore.ProjectInclude, []string{"type"}
	a := map[string]types.AttributeValue{"id": s("1"), "pk": s("p"), "sk": s("1"), "type": s("t"), "log": s("x")}
	logged := map[string]types.AttributeValue{"id": s("1"), "pk": s("p"), "sk": s("1"), "type": s("t"), "log": s("xy")}
	moved := map[string]types.AttributeValue{"id": s("1"), "pk": s("p"), "sk": s("2"), "type": s("t"), "log": s("x")}
	off := map[string]types.AttributeValue{"id": s("1"), "type": s("t")}
	for _, c := range []struct {
		name          string
		ix            dynamostore.Index
		before, after map[string]types.AttributeValue
		want          int
	}{
		{"put", keysOnly, nil, a, 1},
		{"keys-only, keys kept", keysOnly, a, logged, 0},
		{"include, projected kept", include, a, logged, 0},
		{"all, any change", all, a, logged, 1},
		{"all, nothing changed", all, a, a, 0},
		{"sort key moved: delete and put", keysOnly, a, moved, 2},
		{"left the index", all, a, off, 1},
		{"never on it", all, off, off, 0},
	} {
		if got := entryWrites(c.ix, c.before, c.after); len(got) != c.want {
			t.Errorf("%s: %d entry writes, want %d", c.name, len(got), c.want)
		}
	}
}

func TestHotKeysFollowTheSchema(t *testing.T) {
	t.Parallel()
	for _, shards := range []int{1, 4} {
		keys, err := hotKeys(shards)
		if err != nil {
			t.Fatal(err)
		}
		var dispatch *HotKey
		for i, k := range keys {
			if k.Value == simulatedJobID || k.Value == "" {
				t.Errorf("a key of the job's own is listed as shared: %+v", k)
			}
			if k.Index == dynamostore.IndexQueued {
				dispatch = &keys[i]
			}
		}
		// The dispatch index: put at submit, deleted at claim.
		want := map[int]Scope{1: ScopePool, 4: ScopePoolShard}[shards]
		if dispatch == nil || dispatch.WriteUnitsPerJob != 2 || dispatch.WriteUnitsPerHeartbeat != 0 || dispatch.Scope != want {
			t.Errorf("S=%d: dispatch index load %+v, want 2 WU per job on a %s key", shards, dispatch, want)
		}
	}
}

func TestNum(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0.044: "0.044", 1.5: "1.5", 2: "2", 13.12: "13.1", 980.39: "980", 12345: "12,345", 1e6: "1,000,000", math.Inf(1): "∞"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
