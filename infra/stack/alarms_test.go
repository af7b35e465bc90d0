package stack

import (
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/app/claims"
)

func TestAlarms(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			top, cfg := fx.farm.Topology, fx.farm.Config
			alarms := fx.ofType("AWS::CloudWatch::Alarm")
			// Per queue: DLQ depth and oldest message; the stream's failure queue;
			// per pool: oldest queued job; per function: errors, throttles;
			// dispatcher lag, reaper heartbeat, API 5xx.
			want := 2*len(top.Queues()) + 1 + len(top.Pools) + 2*len(FunctionNames) + 3
			if len(alarms) != want {
				t.Errorf("%d alarms, want %d", len(alarms), want)
			}
			type key struct{ ns, metric, dims string }
			byMetric := map[key]map[string]any{}
			for id, a := range alarms {
				p := a.Properties
				if toJSON(p["AlarmActions"]) != toJSON([]any{ref(fx.ids["alarmTopic"])}) {
					t.Errorf("alarm %s actions %v", id, p["AlarmActions"])
				}
				byMetric[key{p["Namespace"].(string), p["MetricName"].(string), toJSON(p["Dimensions"])}] = p
			}
			dim := func(name string, value any) string {
				return toJSON([]any{map[string]any{"Name": name, "Value": value}})
			}
			queueDim := func(k string) string { return dim("QueueName", getAtt(fx.ids[k], "QueueName")) }
			has := func(ns, metric, dims string) map[string]any {
				t.Helper()
				a, ok := byMetric[key{ns, metric, dims}]
				if !ok {
					t.Errorf("no alarm on %s %s %s", ns, metric, dims)
				}
				return a
			}
			// Every queue has an alarm: each DLQ on its depth, each queue on its oldest message.
			for _, q := range top.Queues() {
				has("AWS/SQS", "ApproximateNumberOfMessagesVisible", queueDim("dlq:"+q.ID))
				has("AWS/SQS", "ApproximateAgeOfOldestMessage", queueDim("queue:"+q.ID))
			}
			has("AWS/SQS", "ApproximateNumberOfMessagesVisible", queueDim("dispatchFailures"))
			for _, pool := range top.Pools {
				a := has(MetricsNamespace, MetricOldestQueuedAge, dim(MetricPoolDimension, pool))
				if a["Threshold"] != float64(cfg.OldestQueuedAlarmSecs) || a["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
					t.Errorf("pool %s oldest job alarm %v", pool, a)
				}
			}
			for _, fn := range FunctionNames {
				d := dim("FunctionName", ref(fx.ids["fn:"+fn]))
				has("AWS/Lambda", "Errors", d)
				has("AWS/Lambda", "Throttles", d)
			}
			has("AWS/Lambda", "IteratorAge", dim("FunctionName", ref(fx.ids["fn:dispatch"])))
			if a := has("AWS/Lambda", "Invocations", dim("FunctionName", ref(fx.ids["fn:reaper"]))); a["TreatMissingData"] != "breaching" {
				t.Errorf("reaper heartbeat must treat missing data as breaching: %v", a)
			}
			has("AWS/ApiGateway", "5xx", dim("ApiId", ref(fx.ids["api"])))
			if n := len(fx.ofType("AWS::CloudWatch::Dashboard")); n != 1 {
				t.Errorf("%d dashboards", n)
			}
		})
	}
}

func TestAlarmEmail(t *testing.T) {
	t.Parallel()
	subs := asgFarm.ofType("AWS::SNS::Subscription")
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions", len(subs))
	}
	for _, s := range subs {
		if s.Properties["Protocol"] != "email" || s.Properties["Endpoint"] != "ops@example.com" {
			t.Errorf("subscription %v", s.Properties)
		}
	}
	if n := len(defaultFarm.ofType("AWS::SNS::Subscription")); n != 0 {
		t.Errorf("default farm has %d subscriptions", n)
	}
}

// The dashboard shows each pool's time to start, p50 and p90, from the
// metric the scheduler publishes at each claim.
func TestDashboardShowsTimeToStart(t *testing.T) {
	t.Parallel()
	if MetricTimeToStart != claims.MetricTimeToStart {
		t.Fatalf("the dashboard reads %s, the claims service writes %s", MetricTimeToStart, claims.MetricTimeToStart)
	}
	for _, d := range asgFarm.ofType("AWS::CloudWatch::Dashboard") {
		body := toJSON(d.Properties["DashboardBody"])
		for _, pool := range asgFarm.farm.Topology.Pools {
			for _, stat := range []string{"p50", "p90"} {
				if !strings.Contains(body, `\"`+MetricTimeToStart+`\",\"`+MetricPoolDimension+`\",\"`+pool+`\"`) || !strings.Contains(body, `\"label\":\"`+pool+` `+stat+`\",\"stat\":\"`+stat+`\"`) {
					t.Errorf("no %s %s of pool %s on the dashboard: %s", MetricTimeToStart, stat, pool, body)
				}
			}
		}
	}
}
