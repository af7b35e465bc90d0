package stack

import (
	"slices"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
)

func TestTablesComeFromTopology(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			top := fx.farm.Topology
			if n := len(fx.ofType("AWS::DynamoDB::Table")); n != len(top.Tables()) {
				t.Errorf("%d tables, topology has %d", n, len(top.Tables()))
			}
			for _, want := range dynamostore.Tables(top) {
				id := fx.logicalID(t, "AWS::DynamoDB::Table", "TableName", want.Name)
				if id != fx.ids["table:"+want.ID] {
					t.Errorf("%s: logical id %s is not the %s construct", want.Name, id, want.ID)
				}
				p := fx.res[id].Properties
				keys := []any{map[string]any{"AttributeName": want.Partition.Name, "KeyType": "HASH"}}
				if want.Sort != nil {
					keys = append(keys, map[string]any{"AttributeName": want.Sort.Name, "KeyType": "RANGE"})
				}
				if toJSON(p["KeySchema"]) != toJSON(keys) {
					t.Errorf("%s key schema = %s", want.Name, toJSON(p["KeySchema"]))
				}
				if p["BillingMode"] != "PAY_PER_REQUEST" {
					t.Errorf("%s billing = %v", want.Name, p["BillingMode"])
				}
				if toJSON(p["PointInTimeRecoverySpecification"]) != `{"PointInTimeRecoveryEnabled":true}` {
					t.Errorf("%s PITR = %s", want.Name, toJSON(p["PointInTimeRecoverySpecification"]))
				}
				if toJSON(p["SSESpecification"]) != `{"SSEEnabled":true}` {
					t.Errorf("%s SSE = %s", want.Name, toJSON(p["SSESpecification"]))
				}
				ttl, _ := p["TimeToLiveSpecification"].(map[string]any)
				switch {
				case want.TTLAttribute == "" && ttl != nil:
					t.Errorf("%s has TTL %v, topology has none", want.Name, ttl)
				case want.TTLAttribute != "" && (ttl["AttributeName"] != want.TTLAttribute || ttl["Enabled"] != true):
					t.Errorf("%s TTL = %v, want %s", want.Name, ttl, want.TTLAttribute)
				}
				stream, _ := p["StreamSpecification"].(map[string]any)
				if got := stream["StreamViewType"]; (want.Stream && got != "NEW_IMAGE") || (!want.Stream && stream != nil) {
					t.Errorf("%s stream = %v, topology stream=%v", want.Name, stream, want.Stream)
				}
				var gsis []string
				for _, g := range list(p["GlobalSecondaryIndexes"]) {
					g := g.(map[string]any)
					gsis = append(gsis, g["IndexName"].(string))
					for _, ix := range want.Indexes {
						if ix.Name != g["IndexName"] {
							continue
						}
						wantProjection := map[string]any{"ProjectionType": string(ix.Projection)}
						if len(ix.NonKeyAttributes) > 0 {
							wantProjection["NonKeyAttributes"] = ix.NonKeyAttributes
						}
						if got, want := toJSON(g["Projection"]), toJSON(wantProjection); got != want {
							t.Errorf("index %s projection %s, topology says %s", ix.Name, got, want)
						}
						keys := []any{map[string]any{"AttributeName": ix.Partition.Name, "KeyType": "HASH"}}
						if ix.Sort != nil {
							keys = append(keys, map[string]any{"AttributeName": ix.Sort.Name, "KeyType": "RANGE"})
						}
						if toJSON(g["KeySchema"]) != toJSON(keys) {
							t.Errorf("%s index %s keys = %s", want.Name, ix.Name, toJSON(g["KeySchema"]))
						}
					}
				}
				var wantGSIs []string
				for _, ix := range want.Indexes {
					// A deploy may leave out jobs indexes (deferIndexes: one index per table update).
					if want.ID != top.Jobs.ID || !slices.Contains(fx.farm.Config.DeferIndexes, ix.Name) {
						wantGSIs = append(wantGSIs, ix.Name)
					}
				}
				slices.Sort(gsis)
				slices.Sort(wantGSIs)
				if !slices.Equal(gsis, wantGSIs) {
					t.Errorf("%s indexes = %v, want %v", want.Name, gsis, wantGSIs)
				}
				wantDeletion := "Retain"
				if !fx.farm.Config.RetainData {
					wantDeletion = "Delete"
				}
				if fx.res[id].Deletion != wantDeletion {
					t.Errorf("%s deletion policy %q, want %q", want.Name, fx.res[id].Deletion, wantDeletion)
				}
			}
		})
	}
}

// TestJobsTableIndexes: the jobs table has only the indexes a query reads
// (docs/infra.md lists which), and none projects an attribute a job
// changes after its creation (each change would cost an index write).
func TestJobsTableIndexes(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	p := fx.res[fx.ids["table:Jobs"]].Properties
	var names []string
	for _, ix := range list(p["GlobalSecondaryIndexes"]) {
		ix := ix.(map[string]any)
		names = append(names, ix["IndexName"].(string))
		proj := ix["Projection"].(map[string]any)
		if proj["ProjectionType"] == "ALL" && ix["IndexName"] != "by-pool-queue" {
			t.Errorf("%v projects whole jobs", ix["IndexName"])
		}
		for _, a := range strs(proj["NonKeyAttributes"]) {
			// The reap index holds running jobs only: their builder and
			// start don't change while they are on it.
			whileActive := ix["IndexName"] == "by-reap" && (a == "builder" || a == "started_at")
			if a != "type" && a != "pool" && a != "requested_by" && !whileActive {
				t.Errorf("%v projects %q, which a job changes", ix["IndexName"], a)
			}
		}
	}
	slices.Sort(names)
	if want := []string{"by-newest", "by-pool-queue", "by-pool-start", "by-reap", "by-waiting"}; !slices.Equal(names, want) {
		t.Errorf("jobs indexes %v, want %v", names, want)
	}
	if p["TableName"] != "buildfarm-jobs" {
		t.Errorf("jobs table name %v", p["TableName"])
	}
}
