package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/jsii-runtime-go"
)

// bucket declares the farm bucket (uploads under incoming/, artifacts/, logs/)
// and the bucket its server access logs go to. CloudFormation names both:
// bucket names are global, so the topology's bucket name is only used
// locally; functions get the real name from FARM_BUCKET.
func (f *Farm) bucket() {
	b := f.Topology.Bucket
	days := func(n int) awscdk.Duration { return awscdk.Duration_Days(jsii.Number(float64(n))) }

	f.AccessLogs = awss3.NewBucket(f.Stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:         jsii.Bool(false),
		RemovalPolicy:     f.removal(),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-access-logs"),
			Expiration:                          days(f.Config.AccessLogsExpireDays),
			AbortIncompleteMultipartUploadAfter: days(1),
		}},
	})

	f.NotificationsRole = awsiam.NewRole(f.Stack, jsii.String("BucketNotificationsRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(f.label() + ": CDK handler that sets the bucket's notification configuration"),
	})
	rules := []*awss3.LifecycleRule{
		{Id: jsii.String("expire-logs"), Prefix: jsii.String(b.LogsPrefix), Expiration: days(f.Config.LogsExpireDays)},
		{Id: jsii.String("expire-artifacts"), Prefix: jsii.String(b.ArtifactsPrefix), Expiration: days(f.Config.ArtifactsExpireDays)},
		{
			Id:                                  jsii.String("noncurrent-and-incomplete"),
			NoncurrentVersionExpiration:         days(f.Config.NoncurrentExpireDays),
			AbortIncompleteMultipartUploadAfter: days(1),
			ExpiredObjectDeleteMarker:           jsii.Bool(true),
		},
	}
	if f.Config.IncomingExpireDays > 0 {
		rules = append(rules, &awss3.LifecycleRule{
			Id: jsii.String("expire-incoming"), Prefix: jsii.String(b.IncomingPrefix), Expiration: days(f.Config.IncomingExpireDays),
		})
	}
	f.Bucket = awss3.NewBucket(f.Stack, jsii.String(b.ID), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(true),
		RemovalPolicy:          f.removal(),
		LifecycleRules:         &rules,
		ServerAccessLogsBucket: f.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("farm-bucket/"),
		// CDK's own notifications handler role would carry the
		// AWSLambdaBasicExecutionRole managed policy (logs anywhere).
		NotificationsHandlerRole: f.NotificationsRole,
	})
	// Uploads under incoming/ become jobs: S3 -> ingest queue -> ingest function.
	f.Bucket.AddEventNotification(awss3.EventType_OBJECT_CREATED,
		awss3notifications.NewSqsDestination(f.Queues[f.Topology.IngestQueue.ID]),
		&awss3.NotificationKeyFilter{Prefix: jsii.String(b.IncomingPrefix)})
	f.notificationsHandlerLogs(f.NotificationsRole)
}

// notificationsHandlerLogs gives CDK's singleton bucket-notifications handler
// (a deploy-time custom resource) a log group with retention, created before
// the handler first runs, and lets its role write only there. CDK attaches
// the AWSLambdaBasicExecutionRole managed policy (logs on every log group)
// even to a role it is given: that attachment is removed from the template.
func (f *Farm) notificationsHandlerLogs(role awsiam.Role) {
	var handler awscdk.CfnResource
	for _, c := range *f.Stack.Node().Children() {
		if strings.HasPrefix(*c.Node().Id(), "BucketNotificationsHandler") {
			handler = c.Node().DefaultChild().(awscdk.CfnResource)
		}
	}
	if handler == nil {
		panic("stack: CDK's BucketNotificationsHandler not found; did aws-s3 change how it adds notifications?")
	}
	role.Node().DefaultChild().(awsiam.CfnRole).AddPropertyDeletionOverride(jsii.String("ManagedPolicyArns"))
	suppress(role, false, suppression{
		id: "AwsSolutions-IAM4",
		reason: "CDK's notifications handler attaches AWSLambdaBasicExecutionRole to its role; the synthesized " +
			"template drops that attachment (property deletion override, asserted by the tests) and the role " +
			"writes only to its own log group.",
		appliesTo: []string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
	})
	logs := awslogs.NewLogGroup(f.Stack, jsii.String("BucketNotificationsLogs"), &awslogs.LogGroupProps{
		LogGroupName:  awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("/aws/lambda/"), handler.Ref()}),
		Retention:     retention[f.Config.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// A policy of its own, not the role's default policy: the handler depends
	// on that one, and this one depends on the handler's name.
	policy := awsiam.NewPolicy(f.Stack, jsii.String("BucketNotificationsLogsPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
			Resources: &[]*string{logs.LogGroupArn()},
		})},
	})
	f.Bucket.Node().FindChild(jsii.String("Notifications")).Node().AddDependency(logs, policy)
}
