// Package stack declares the whole farm as one CDK stack: tables, queues and
// the bucket from shared/topology, the four Lambdas with their triggers, the
// HTTP API, builder IAM, alarms, a dashboard and outputs.
package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/infra/config"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// Function names: functions/<name> builds to <FunctionsDir>/<name>/bootstrap.
const (
	FnAPI      = "api"
	FnIngest   = "ingest"
	FnDispatch = "dispatch"
	FnReaper   = "reaper"
)

// FunctionNames lists every Lambda of the farm.
var FunctionNames = []string{FnAPI, FnIngest, FnDispatch, FnReaper}

// Environment variable names the functions read.
const (
	EnvBucket           = "FARM_BUCKET"
	EnvJobRetention     = "FARM_JOB_RETENTION_DAYS"
	EnvAdminTokenSecret = "FARM_ADMIN_TOKEN_SECRET_ARN"
)

// MetricsNamespace and the metrics the functions emit (EMF), per pool: the
// reaper's each tick, and the api function's time to start at each claim
// (every value is kept, so CloudWatch gives its percentiles).
const (
	MetricsNamespace      = "Buildfarm"
	MetricOldestQueuedAge = "OldestQueuedJobAgeSeconds"
	MetricQueuedJobs      = "QueuedJobs"
	MetricTimeToStart     = "TimeToStartSeconds"
	MetricPoolDimension   = "Pool"
)

// Farm is the synthesized farm: the stack and the constructs tests and
// outputs refer to.
type Farm struct {
	Stack    awscdk.Stack
	Config   config.Config
	Topology *topology.Topology

	Tables           map[string]awsdynamodb.Table // by topology table ID
	Queues           map[string]awssqs.Queue      // by topology queue ID
	DLQs             map[string]awssqs.Queue      // by topology queue ID
	DispatchFailures awssqs.Queue                 // on-failure destination of the jobs stream
	Bucket           awss3.Bucket
	AccessLogs       awss3.Bucket
	// NotificationsRole runs CDK's deploy-time handler for bucket notifications.
	NotificationsRole awsiam.Role
	AdminToken        awssecretsmanager.Secret
	Functions         map[string]awslambda.Function
	API               awsapigatewayv2.HttpApi
	APIStage          awsapigatewayv2.HttpStage
	BuilderRole       awsiam.Role
	BuilderProfile    awsiam.InstanceProfile
	BuilderPolicy     awsiam.ManagedPolicy
	// BuilderURL is the api function's URL, the builders' edge when
	// topology.BuilderAPIEdge says so (nil otherwise).
	BuilderURL awslambda.FunctionUrl

	// FleetGroups and FleetRoles are the elastic pools' Auto Scaling groups
	// and instance roles, by pool; Scaler is the scaler function (fleet only).
	FleetGroups map[string]awsautoscaling.AutoScalingGroup
	FleetRoles  map[string]awsiam.Role
	Scaler      awslambda.Function
	AlarmTopic  awssns.Topic
	Alarms      []awscloudwatch.Alarm
}

// CheckFunctionAssets reports a missing bootstrap before any CDK work.
func CheckFunctionAssets(dir string) error {
	var missing []string
	for _, name := range FunctionNames {
		p := filepath.Join(dir, name, "bootstrap")
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("lambda bootstrap missing: %v; run scripts/build-functions first, which builds "+
			"functions/<name>/main.go into %s/<name>/bootstrap (or point -c functionsDir=... at the bootstraps)", missing, dir)
	}
	return nil
}

// New declares the farm in scope as a stack named by the config.
func New(scope constructs.Construct, cfg config.Config, props *awscdk.StackProps) (*Farm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckFunctionAssets(cfg.FunctionsDir); err != nil {
		return nil, err
	}
	if err := checkScalerAsset(cfg); err != nil {
		return nil, err
	}
	top, err := cfg.Topology()
	if err != nil {
		return nil, err
	}
	if props == nil {
		props = &awscdk.StackProps{}
	}
	if props.StackName == nil {
		props.StackName = jsii.String(cfg.StackName)
	}
	if props.Description == nil {
		props.Description = jsii.String(fmt.Sprintf("buildfarm %s: tables, queues, bucket, functions, API and alarms (pools %s)",
			cfg.Prefix, strings.Join(top.Pools, ", ")))
	}
	f := &Farm{
		Stack:    awscdk.NewStack(scope, jsii.String(cfg.StackName), props),
		Config:   cfg,
		Topology: top,
	}
	awscdk.Tags_Of(f.Stack).Add(jsii.String("buildfarm:prefix"), jsii.String(cfg.Prefix), nil)
	f.tables()
	f.queues()
	f.bucket()
	f.adminToken()
	f.functions()
	f.httpAPI()
	f.builderEdge()
	f.alarmTopic()
	f.builders()
	f.alarms()
	f.dashboard()
	f.outputs()
	f.suppressions()
	return f, nil
}

func (f *Farm) removal() awscdk.RemovalPolicy {
	if f.Config.RetainData {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// label names this farm in descriptions: "buildfarm", or "buildfarm <prefix>".
func (f *Farm) label() string {
	if f.Config.Prefix == topology.DefaultPrefix {
		return "buildfarm"
	}
	return "buildfarm " + f.Config.Prefix
}
