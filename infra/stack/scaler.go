package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/infra/config"
	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// FnScaler is the fleet's scaler function (only with a fleet).
const FnScaler = "scaler"

// Environment variables of the fleet.
const (
	EnvFleet        = fleet.EnvConfig
	EnvIdentityCert = "FARM_INSTANCE_IDENTITY_CERT"
)

// ScalerGroupActions are the Auto Scaling actions the scaler may take, on
// the fleet's groups only.
var ScalerGroupActions = []string{"autoscaling:SetDesiredCapacity", "autoscaling:SetInstanceProtection", "autoscaling:TerminateInstanceInAutoScalingGroup"}

// DescribeActions support no resource-level permissions (Service Authorization Reference).
var DescribeActions = []string{"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances"}

func init() {
	// Below the 1 minute schedule; its record lease (50 s) is below this.
	fnSpecs[FnScaler] = fnSpec{FnScaler, "elastic fleet: each pool's Auto Scaling group follows its queue", 55, 256}
}

// groupArn is a fleet group's ARN, its generated id part a wildcard.
func (f *Farm) groupArn(pool string) string {
	return fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:*:autoScalingGroupName/%s",
		*awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID(), f.Config.GroupName(pool))
}

// scalerFunction declares the scaler: run every minute, and woken early by
// queued jobs on the jobs stream (filtered, batched: one invocation per
// window however large the burst, and no extra AWS call when a job is
// submitted), with only the grants it needs.
func (f *Farm) scalerFunction() {
	top := f.Topology
	fleetJSON := f.Config.FleetConfig().JSON()
	env := map[string]*string{
		topology.EnvPrefix: jsii.String(top.Prefix),
		topology.EnvPools:  jsii.String(strings.Join(top.Pools, ",")),
		EnvBucket:          f.Bucket.BucketName(),
		EnvFleet:           jsii.String(fleetJSON),
	}
	if f.Config.DispatchShards != "" {
		// It counts the queues on every shard.
		env[wiring.EnvDispatchShards] = jsii.String(f.Config.DispatchShards)
	}
	fn := f.function(fnSpecs[FnScaler], env)
	f.Scaler = fn
	// Reads: the queue and running counts (index queries), builders; writes:
	// drain requests and forgotten builders, the pools' scaler records.
	f.Tables[top.Jobs.ID].GrantReadData(fn)
	f.Tables[top.Builders.ID].GrantReadWriteData(fn)
	f.Tables[top.Fleet.ID].GrantReadWriteData(fn)
	var queues []*string
	for _, q := range f.poolQueues(nil) {
		queues = append(queues, q.QueueArn())
	}
	// The farm's wiring looks up its pools' doorbell queues at start; the
	// scaler rings none.
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{Grantee: fn, Actions: jsii.Strings("sqs:GetQueueUrl"), ResourceArns: &queues})
	var groups []*string
	for _, p := range f.Config.Fleet {
		groups = append(groups, jsii.String(f.groupArn(p.Pool)))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ScaleFleetGroups"), Actions: jsii.Strings(ScalerGroupActions...), Resources: &groups,
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DescribeFleetGroups"), Actions: jsii.Strings(DescribeActions...), Resources: jsii.Strings("*"),
	}))
	awsevents.NewRule(f.Stack, jsii.String("ScalerSchedule"), &awsevents.RuleProps{
		Description: jsii.String(f.label() + ": scaler tick"),
		Schedule:    awsevents.Schedule_Expression(jsii.String("rate(1 minute)")),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
			MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(1)),
		})},
	})
	fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(f.Tables[top.Jobs.ID], &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:  awslambda.StartingPosition_LATEST,
		BatchSize:         jsii.Number(1000),
		MaxBatchingWindow: awscdk.Duration_Seconds(jsii.Number(5)),
		// A hint: a failed or late batch is dropped; the schedule ticks anyway.
		RetryAttempts: jsii.Number(0),
		MaxRecordAge:  awscdk.Duration_Minutes(jsii.Number(1)),
		// The store's filter on the jobs stream: records of queued jobs only.
		Filters: streamFilters(dynamostore.QueuedJobsFilter),
	}))

	// The API gives instances their tokens: it verifies their identity with
	// AWS's certificate and asks Auto Scaling which group they are in.
	api := f.Functions[FnAPI]
	api.AddEnvironment(jsii.String(EnvFleet), jsii.String(fleetJSON), nil)
	api.AddEnvironment(jsii.String(EnvIdentityCert), jsii.String(f.Config.InstanceIdentityCertificate), nil)
	api.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("FleetMembership"), Actions: jsii.Strings("autoscaling:DescribeAutoScalingInstances"), Resources: jsii.Strings("*"),
	}))
	describe := suppression{
		id: "AwsSolutions-IAM5",
		reason: "autoscaling:DescribeAutoScalingGroups and DescribeAutoScalingInstances support no resource-level " +
			"permissions (Service Authorization Reference); the statement holds only those read actions. Every " +
			"action that changes a group is limited to the fleet's groups by ARN.",
		appliesTo: []string{"Resource::*"},
	}
	suppress(api.Role(), true, describe)
	suppress(fn.Role(), true, describe,
		suppression{
			id: "AwsSolutions-IAM5",
			reason: "An Auto Scaling group's ARN holds an id generated when it is created; the scaler's statement " +
				"names each of the fleet's groups by name (autoScalingGroup:*:autoScalingGroupName/<prefix>-<pool>).",
			appliesTo: []string{`regex:/^Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:\*:autoScalingGroupName\/.*$/`},
		},
		suppression{
			id: "AwsSolutions-IAM5",
			reason: "GrantReadData covers the jobs table's indexes as <table arn>/index/*: the scaler counts a pool's " +
				"queued jobs on the dispatch index and its running jobs on the status index, with COUNT queries.",
			appliesTo: []string{`regex:/^Resource::<` + top.Jobs.ID + `[0-9A-F]{8}\.Arn>\/index\/\*$/`},
		},
		suppression{
			id: "AwsSolutions-IAM5",
			reason: "dynamodb:ListStreams, added by the DynamoDB event source, does not support resource-level " +
				"permissions (Service Authorization Reference); that statement holds that one action and nothing else.",
			appliesTo: []string{"Resource::*"},
		},
	)
}

// checkScalerAsset reports a missing scaler bootstrap when a fleet needs it.
func checkScalerAsset(cfg config.Config) error {
	if len(cfg.Fleet) == 0 {
		return nil
	}
	p := filepath.Join(cfg.FunctionsDir, FnScaler, "bootstrap")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return fmt.Errorf("lambda bootstrap missing: %s (a fleet needs the scaler); run scripts/build-functions first", p)
	}
	return nil
}
