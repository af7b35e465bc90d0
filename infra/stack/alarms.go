package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// alarmTopic receives every alarm (and, with builderAsg, scaling events).
func (f *Farm) alarmTopic() {
	f.AlarmTopic = awssns.NewTopic(f.Stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String(f.label() + " alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	if f.Config.AlarmEmail != "" {
		f.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(f.Config.AlarmEmail), nil))
	}
}

func fiveMinutes() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

type alarmSpec struct {
	id, name, description string
	metric                awscloudwatch.IMetric
	threshold             float64
	below                 bool // alarm when the metric is below the threshold
	missingBreaches       bool // no data is itself a problem
}

func (f *Farm) alarm(s alarmSpec) {
	op := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	if s.below {
		op = awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD
	}
	missing := awscloudwatch.TreatMissingData_NOT_BREACHING
	if s.missingBreaches {
		missing = awscloudwatch.TreatMissingData_BREACHING
	}
	a := awscloudwatch.NewAlarm(f.Stack, jsii.String(s.id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(f.Config.Prefix + "-" + s.name),
		AlarmDescription:   jsii.String(s.description),
		Metric:             s.metric,
		Threshold:          jsii.Number(s.threshold),
		ComparisonOperator: op,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   missing,
	})
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(f.AlarmTopic))
	a.AddOkAction(awscloudwatchactions.NewSnsAction(f.AlarmTopic))
	f.Alarms = append(f.Alarms, a)
}

// alarms: every queue (depth of its DLQ, age of its oldest message), the
// oldest queued job per pool, every function's errors and throttles, the
// stream dispatcher's lag, the reaper's heartbeat, and API 5xx.
func (f *Farm) alarms() {
	max5 := &awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Maximum")}
	sum5 := &awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Sum")}
	for _, q := range f.Topology.Queues() {
		f.alarm(alarmSpec{
			id: q.ID + "DLQDepth", name: q.DLQName + "-depth", metric: f.DLQs[q.ID].MetricApproximateNumberOfMessagesVisible(max5),
			threshold: 1, description: fmt.Sprintf("Messages in %s: they failed %d receives on %s. The jobs table stays the truth; inspect and redrive.", q.DLQName, q.MaxReceiveCount, q.Name),
		})
		f.alarm(alarmSpec{
			id: q.ID + "OldestMessage", name: q.Name + "-oldest-message", metric: f.Queues[q.ID].MetricApproximateAgeOfOldestMessage(max5),
			threshold: float64(f.Config.QueueAgeAlarmSeconds), description: fmt.Sprintf("A message has waited in %s for over %d s: nothing is consuming it.", q.Name, f.Config.QueueAgeAlarmSeconds),
		})
	}
	f.alarm(alarmSpec{
		id: "DispatchFailuresDepth", name: "dispatch-failures-depth", metric: f.DispatchFailures.MetricApproximateNumberOfMessagesVisible(max5),
		threshold: 1, description: "Jobs stream records the dispatcher gave up on (after retries and bisection). The reaper's sweep still dispatches queued jobs; find the cause in the dispatch logs.",
	})
	for _, pool := range f.Topology.Pools {
		f.alarm(alarmSpec{
			id: "OldestQueuedJob" + f.poolQueueID(pool), name: "pool-" + pool + "-oldest-queued-job",
			metric:    f.poolMetric(MetricOldestQueuedAge, pool, "Maximum"),
			threshold: float64(f.Config.OldestQueuedAlarmSecs),
			description: fmt.Sprintf("A job has been queued in pool %s for over %d s: no builder is taking work (see GET /v1/queue).",
				pool, f.Config.OldestQueuedAlarmSecs),
		})
	}
	for _, name := range FunctionNames {
		fn, id := f.Functions[name], strings.ToUpper(name[:1])+name[1:]
		f.alarm(alarmSpec{
			id: id + "Errors", name: name + "-errors", metric: fn.MetricErrors(sum5),
			threshold: float64(f.Config.ErrorsAlarmThreshold), description: "The " + name + " function failed invocations.",
		})
		f.alarm(alarmSpec{
			id: id + "Throttles", name: name + "-throttles", metric: fn.MetricThrottles(sum5),
			threshold: 1, description: "The " + name + " function was throttled (account or reserved concurrency).",
		})
	}
	f.alarm(alarmSpec{
		id: "DispatchIteratorAge", name: "dispatch-stream-lag",
		metric:      f.Functions[FnDispatch].Metric(jsii.String("IteratorAge"), max5),
		threshold:   float64(f.Config.StreamIteratorAlarmSecs * 1000),
		description: fmt.Sprintf("The dispatcher is over %d s behind the jobs stream.", f.Config.StreamIteratorAlarmSecs),
	})
	f.alarm(alarmSpec{
		id: "ReaperHeartbeat", name: "reaper-not-running", metric: f.Functions[FnReaper].MetricInvocations(sum5),
		threshold: 1, below: true, missingBreaches: true,
		description: "The reaper has not run for 5 minutes: expired leases are not recovered and queue metrics stop.",
	})
	f.alarm(alarmSpec{
		id: "Api5xx", name: "api-5xx", metric: f.API.MetricServerError(sum5),
		threshold: float64(f.Config.ErrorsAlarmThreshold), description: "The HTTP API answered 5xx (function errors, timeouts or throttling).",
	})
}

// poolMetric is a metric the reaper emits through EMF for pool.
func (f *Farm) poolMetric(name, pool, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricsNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{MetricPoolDimension: jsii.String(pool)},
		Statistic:     jsii.String(statistic),
		Period:        fiveMinutes(),
	})
}

func (f *Farm) poolQueueID(pool string) string {
	q, _ := f.Topology.PoolQueue(pool)
	return q.ID
}
