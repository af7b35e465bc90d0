package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func (f *Farm) output(id string, value *string, description string) {
	awscdk.NewCfnOutput(f.Stack, jsii.String(id), &awscdk.CfnOutputProps{
		Value: value, Description: jsii.String(description),
	})
}

// outputs: what operators, farmctl and builders need after a deploy.
func (f *Farm) outputs() {
	f.output("ApiUrl", f.APIStage.Url(), "HTTP API base URL (FARM_API for farmctl, submitters and the web page)")
	f.output("BuilderApiUrl", f.builderAPIURL(), "Base URL builders take (FARM_API of farm-builder): the api function's URL, no API Gateway charge per request")
	f.output("BucketName", f.Bucket.BucketName(), "Farm bucket: incoming/ uploads become jobs, artifacts/, logs/")
	f.output("AdminTokenSecretArn", f.AdminToken.SecretArn(), "Bootstrap admin token: aws secretsmanager get-secret-value --secret-id <arn>")
	for _, q := range f.Topology.Queues() {
		f.output("QueueUrl"+q.ID, f.Queues[q.ID].QueueUrl(), "Queue "+q.Name)
		f.output("DLQUrl"+q.ID, f.DLQs[q.ID].QueueUrl(), "Dead-letter queue "+q.DLQName)
	}
	f.output("DispatchFailuresQueueUrl", f.DispatchFailures.QueueUrl(), "Jobs stream records the dispatcher gave up on")
	f.output("BuilderRoleArn", f.BuilderRole.RoleArn(), "EC2 builder role (three SQS actions on the builder pools' queues)")
	f.output("BuilderInstanceProfileArn", f.BuilderProfile.InstanceProfileArn(), "Instance profile for EC2 builders")
	f.output("BuilderQueuesPolicyArn", f.BuilderPolicy.ManagedPolicyArn(), "Managed policy for bare-metal builders (IAM Roles Anywhere role)")
	f.output("AlarmTopicArn", f.AlarmTopic.TopicArn(), "SNS topic every alarm notifies")
}
