package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// BuilderQueueActions are all a builder may do in AWS: builders get their
// queue URLs from the API and talk to the API with a bearer token.
var BuilderQueueActions = []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}

// builders declares the builders' IAM: a managed policy allowing only the
// three queue actions on the builder pools' doorbell queues, an EC2 role and
// instance profile with that policy, and (with a fleet) one Auto Scaling group
// per elastic pool and the scaler (fleet.go). Bare-metal builders use the managed policy through IAM
// Roles Anywhere (see docs/infra.md).
func (f *Farm) builders() {
	var arns []*string
	for _, q := range f.poolQueues(f.Config.BuilderPools) {
		arns = append(arns, q.QueueArn())
	}
	f.BuilderPolicy = awsiam.NewManagedPolicy(f.Stack, jsii.String("BuilderQueuesPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String(f.label() + ": builders consume their pools' doorbell queues, nothing else"),
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ConsumePoolDoorbells"),
			Actions:   jsii.Strings(BuilderQueueActions...),
			Resources: &arns,
		})},
	})
	f.BuilderRole = awsiam.NewRole(f.Stack, jsii.String("BuilderRole"), &awsiam.RoleProps{
		AssumedBy:       awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description:     jsii.String(f.label() + ": EC2 builders"),
		ManagedPolicies: &[]awsiam.IManagedPolicy{f.BuilderPolicy},
	})
	f.BuilderProfile = awsiam.NewInstanceProfile(f.Stack, jsii.String("BuilderInstanceProfile"), &awsiam.InstanceProfileProps{
		Role: f.BuilderRole,
	})
	f.fleet()
}
