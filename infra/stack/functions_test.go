package stack

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func TestFunctions(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, fn := range FunctionNames {
				id := fx.ids["fn:"+fn]
				p := fx.res[id].Properties
				want := map[string]any{
					"FunctionName": fx.farm.Config.Prefix + "-" + fn,
					"Runtime":      "provided.al2023",
					"Handler":      "bootstrap",
				}
				for k, v := range want {
					if p[k] != v {
						t.Errorf("%s %s = %v, want %v", fn, k, p[k], v)
					}
				}
				if toJSON(p["Architectures"]) != `["arm64"]` {
					t.Errorf("%s architectures %v", fn, p["Architectures"])
				}
				logging, _ := p["LoggingConfig"].(map[string]any)
				if logging["LogFormat"] != "JSON" || logging["ApplicationLogLevel"] != topology.LambdaApplicationLogLevel || logging["SystemLogLevel"] != topology.LambdaSystemLogLevel {
					t.Errorf("%s logging %v", fn, logging)
				}
				lg, _ := logging["LogGroup"].(map[string]any)
				group := fx.res[lg["Ref"].(string)]
				if group.Type != "AWS::Logs::LogGroup" || group.Properties["RetentionInDays"] != float64(fx.farm.Config.LogRetentionDays) {
					t.Errorf("%s log group %v", fn, group)
				}
				if toJSON(p["Role"]) != toJSON(getAtt(fx.ids["role:"+fn], "Arn")) {
					t.Errorf("%s role %v", fn, p["Role"])
				}
				env := maps.Clone(p["Environment"].(map[string]any)["Variables"].(map[string]any))
				wantEnv := []string{topology.EnvPrefix, topology.EnvPools, EnvBucket, EnvJobRetention}
				if fx.farm.Config.DispatchShards != "" {
					wantEnv = append(wantEnv, wiring.EnvDispatchShards)
				}
				if fn == FnAPI {
					wantEnv = append(wantEnv, EnvAdminTokenSecret)
					if len(fx.farm.Config.Fleet) > 0 {
						// Checked in TestScalerFunction.
						wantEnv = append(wantEnv, EnvFleet, EnvIdentityCert)
						delete(env, EnvFleet)
						delete(env, EnvIdentityCert)
					}
				}
				slices.Sort(wantEnv)
				if got := slices.Sorted(maps.Keys(p["Environment"].(map[string]any)["Variables"].(map[string]any))); !slices.Equal(got, wantEnv) {
					t.Errorf("%s env %v, want %v", fn, got, wantEnv)
				}
				top := fx.farm.Topology
				checks := map[string]string{
					topology.EnvPrefix:  `"` + top.Prefix + `"`,
					topology.EnvPools:   `"` + joinPools(top.Pools) + `"`,
					EnvBucket:           toJSON(ref(fx.ids["bucket"])),
					EnvJobRetention:     `"` + strconv.Itoa(fx.farm.Config.JobRetentionDays) + `"`,
					EnvAdminTokenSecret: toJSON(ref(fx.ids["adminToken"])),
					// Every function that opens the store reads the pools' widths.
					wiring.EnvDispatchShards: `"` + fx.farm.Config.DispatchShards + `"`,
				}
				for k, v := range env {
					if toJSON(v) != checks[k] {
						t.Errorf("%s env %s = %s, want %s", fn, k, toJSON(v), checks[k])
					}
				}
			}
			// The four farm functions, the scaler with a fleet, and CDK's
			// bucket-notifications handler.
			want := len(FunctionNames) + 1
			if fx.farm.Scaler != nil {
				want++
			}
			if n := len(fx.ofType("AWS::Lambda::Function")); n != want {
				t.Errorf("%d functions", n)
			}
			for id, g := range fx.ofType("AWS::Logs::LogGroup") {
				if g.Properties["RetentionInDays"] != float64(fx.farm.Config.LogRetentionDays) {
					t.Errorf("log group %s retention %v", id, g.Properties["RetentionInDays"])
				}
			}
		})
	}
}

func joinPools(p []string) string {
	out := ""
	for i, s := range p {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestTriggers(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	top := fx.farm.Topology
	esms := fx.ofType("AWS::Lambda::EventSourceMapping")
	// The reaper has none: no lease timers (it sweeps the reap index on
	// its schedule).
	if len(esms) != 2 {
		t.Fatalf("%d event source mappings, want 2 (ingest, dispatch)", len(esms))
	}
	bySource := map[string]map[string]any{}
	for _, e := range esms {
		if toJSON(e.Properties["FunctionResponseTypes"]) != `["ReportBatchItemFailures"]` {
			t.Errorf("event source %v lacks ReportBatchItemFailures", e.Properties)
		}
		bySource[toJSON(e.Properties["EventSourceArn"])] = e.Properties
	}
	ingest := bySource[toJSON(getAtt(fx.ids["queue:"+top.IngestQueue.ID], "Arn"))]
	if toJSON(ingest["FunctionName"]) != toJSON(ref(fx.ids["fn:ingest"])) {
		t.Errorf("ingest queue mapping %v", ingest)
	}
	stream := bySource[toJSON(getAtt(fx.ids["table:Jobs"], "StreamArn"))]
	want := map[string]any{
		"FunctionName":               ref(fx.ids["fn:dispatch"]),
		"BisectBatchOnFunctionError": true,
		"MaximumRetryAttempts":       float64(fx.farm.Config.DispatchRetryAttempts),
		"StartingPosition":           "TRIM_HORIZON",
		"DestinationConfig":          map[string]any{"OnFailure": map[string]any{"Destination": getAtt(fx.ids["dispatchFailures"], "Arn")}},
	}
	for k, v := range want {
		if toJSON(stream[k]) != toJSON(v) {
			t.Errorf("jobs stream mapping %s = %s, want %s", k, toJSON(stream[k]), toJSON(v))
		}
	}
	rules := fx.ofType("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("%d rules", len(rules))
	}
	for _, r := range rules {
		if r.Properties["ScheduleExpression"] != "rate(1 minute)" {
			t.Errorf("reaper schedule %v", r.Properties["ScheduleExpression"])
		}
		if toJSON(list(r.Properties["Targets"])[0].(map[string]any)["Arn"]) != toJSON(getAtt(fx.ids["fn:reaper"], "Arn")) {
			t.Errorf("schedule target %v", r.Properties["Targets"])
		}
	}
}
