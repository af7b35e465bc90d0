package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// dashboard shows the farm at a glance: queue and time to start per pool,
// dead letters, functions, API and every alarm's state.
func (f *Farm) dashboard() {
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}
	max := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")}
	var queued, oldest, toStart, dead, invocations, errs, throttles, durations []awscloudwatch.IMetric
	for _, p := range f.Topology.Pools {
		queued = append(queued, f.poolMetric(MetricQueuedJobs, p, "Maximum"))
		oldest = append(oldest, f.poolMetric(MetricOldestQueuedAge, p, "Maximum"))
		for _, stat := range []string{"p50", "p90"} {
			m := f.poolMetric(MetricTimeToStart, p, stat).With(&awscloudwatch.MetricOptions{Label: jsii.String(p + " " + stat)})
			toStart = append(toStart, m)
		}
	}
	for _, q := range f.Topology.Queues() {
		dead = append(dead, f.DLQs[q.ID].MetricApproximateNumberOfMessagesVisible(max))
	}
	dead = append(dead, f.DispatchFailures.MetricApproximateNumberOfMessagesVisible(max))
	for _, n := range FunctionNames {
		fn := f.Functions[n]
		invocations = append(invocations, fn.MetricInvocations(sum))
		errs = append(errs, fn.MetricErrors(sum))
		throttles = append(throttles, fn.MetricThrottles(sum))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99")}))
	}
	alarms := make([]interfacesawscloudwatch.IAlarmRef, len(f.Alarms))
	for i, a := range f.Alarms {
		alarms[i] = a
	}
	awscloudwatch.NewDashboard(f.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(f.Config.Prefix),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph("Queued jobs per pool", queued...),
				graph("Oldest queued job age (s) per pool", oldest...),
				graph("Time to start (s) per pool, p50 and p90", toStart...),
			},
			{
				graph("Dead letters", dead...),
			},
			{
				graph("Invocations", invocations...),
				graph("Errors", errs...),
				graph("Throttles", throttles...),
			},
			{
				graph("Duration p99 (ms)", durations...),
				graph("Dispatcher stream lag (ms)", f.Functions[FnDispatch].Metric(jsii.String("IteratorAge"), max)),
				graph("HTTP API", f.API.MetricCount(sum), f.API.MetricClientError(sum), f.API.MetricServerError(sum)),
			},
			{
				awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
					Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24), Height: jsii.Number(6),
				}),
			},
		},
	})
}
