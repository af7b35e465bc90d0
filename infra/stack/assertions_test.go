package stack

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// These tests call the CDK assertions library through jsii, so they must not
// run in parallel (jsii-runtime-go is not safe for concurrent calls); Go runs
// them before the parallel tests are released.

// failure runs a CDK assertion and returns its failure: a failed assertion
// panics through jsii.
func failure(fn func()) (failed any) {
	defer func() { failed = recover() }()
	fn()
	return nil
}

func check(t *testing.T, what string, fn func()) {
	t.Helper()
	if err := failure(fn); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func TestTemplateAssertions(t *testing.T) {
	tpl, top := defaultFarm.tpl, defaultFarm.farm.Topology
	counts := map[string]int{
		"AWS::DynamoDB::Table":            len(top.Tables()),
		"AWS::SQS::Queue":                 2*len(top.Queues()) + 1,
		"AWS::Lambda::Function":           len(FunctionNames) + 1, // + CDK's bucket-notifications handler
		"AWS::Lambda::EventSourceMapping": 2,                      // ingest and dispatch (no lease-timer queue)
		"AWS::CloudWatch::Alarm":          3*len(top.Pools) + 14,
		"AWS::ApiGatewayV2::Api":          1,
		"AWS::SecretsManager::Secret":     1,
		"AWS::IAM::InstanceProfile":       1,
	}
	for typ, n := range counts {
		check(t, typ, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
	}
	check(t, "jobs GSIs", func() {
		tpl.ResourcePropertiesCountIs(jsii.String("AWS::DynamoDB::Table"), &map[string]any{
			"TableName":              top.Jobs.Name,
			"GlobalSecondaryIndexes": assertions.Match_AnyValue(),
			"StreamSpecification":    map[string]any{"StreamViewType": "NEW_IMAGE"},
		}, jsii.Number(1))
	})
	check(t, "every table PITR + SSE", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::DynamoDB::Table"), assertions.Match_ObjectLike(&map[string]any{
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"SSESpecification":                 map[string]any{"SSEEnabled": true},
		}))
	})
	check(t, "every queue encrypted", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::SQS::Queue"), assertions.Match_ObjectLike(&map[string]any{
			"SqsManagedSseEnabled": true,
		}))
	})
	for _, fn := range FunctionNames {
		check(t, fn+" function", func() {
			tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
				"FunctionName":  "buildfarm-" + fn,
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"LoggingConfig": assertions.Match_ObjectLike(&map[string]any{"LogFormat": "JSON"}),
			})
		})
	}
	check(t, "stream event source", func() {
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), &map[string]any{
			"FunctionResponseTypes":      []any{"ReportBatchItemFailures"},
			"BisectBatchOnFunctionError": true,
			"MaximumRetryAttempts":       defaultFarm.farm.Config.DispatchRetryAttempts,
			"DestinationConfig":          assertions.Match_ObjectLike(&map[string]any{"OnFailure": assertions.Match_AnyValue()}),
		})
	})
	check(t, "builder policy", func() {
		tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), &map[string]any{
			"PolicyDocument": map[string]any{
				"Statement": []any{assertions.Match_ObjectLike(&map[string]any{
					"Effect": "Allow",
					"Action": []any{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"},
				})},
				"Version": "2012-10-17",
			},
		})
	})
	check(t, "oldest queued job alarm", func() {
		tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{
			"Namespace":  MetricsNamespace,
			"MetricName": MetricOldestQueuedAge,
			"Dimensions": []any{map[string]any{"Name": MetricPoolDimension, "Value": "default"}},
			"Threshold":  900,
		})
	})
	// A wrong assertion must be reported, or none of the above checks anything.
	if failure(func() { tpl.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(99)) }) == nil {
		t.Error("a wrong ResourceCountIs did not fail: the assertions are not being checked")
	}
}

func TestNagAnnotationsAPI(t *testing.T) {
	for name, fx := range fixtures() {
		check(t, name, func() {
			assertions.Annotations_FromStack(fx.farm.Stack).HasNoError(jsii.String("*"),
				assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		})
	}
}
