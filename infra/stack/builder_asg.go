package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// AgentKeyPrefix is where scripts publish the farm-builder binary in the farm
// bucket: <prefix>farm-builder-linux-<arm64|amd64>.
const AgentKeyPrefix = "builder/"

// builderGroups runs one single-instance Auto Scaling group per configured
// builder name. A builder token is bound to one builder name, so each group
// is one named builder: a replaced instance comes back as the same builder.
// The instances pull the agent binary from the farm bucket and their token
// from the BuilderTokens secret (a JSON object name -> token that the
// operator fills after minting tokens with POST /v1/tokens).
func (f *Farm) builderGroups(profile awsiam.IInstanceProfile) {
	itype := awsec2.NewInstanceType(jsii.String(f.Config.BuilderInstanceType))
	cpu, goarch := awsec2.AmazonLinuxCpuType_ARM_64, "arm64"
	if itype.Architecture() == awsec2.InstanceArchitecture_X86_64 {
		cpu, goarch = awsec2.AmazonLinuxCpuType_X86_64, "amd64"
	}
	agentKey := AgentKeyPrefix + "farm-builder-linux-" + goarch

	f.BuilderTokens = awssecretsmanager.NewSecret(f.Stack, jsii.String("BuilderTokens"), &awssecretsmanager.SecretProps{
		Description:       jsii.String(f.label() + ": builder bearer tokens as a JSON object {\"<builder name>\": \"<token>\"}"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String("{}")),
		RemovalPolicy:     f.removal(),
	})
	tokens := f.BuilderTokens
	suppress(tokens, false, suppression{
		id: "AwsSolutions-SMG4",
		reason: "Builder tokens are bearer tokens of the farm's own API, minted by an admin with POST /v1/tokens; " +
			"Secrets Manager has no rotation function for them. Rotate by minting new tokens, updating the secret " +
			"and restarting the agents (docs/infra.md).",
	})
	// The only permissions beyond the three queue actions, each with its reason.
	f.BuilderRole.AttachInlinePolicy(awsiam.NewPolicy(f.Stack, jsii.String("BuilderBootstrapPolicy"), &awsiam.PolicyProps{
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				// The agent's bearer token: kept out of user data and the launch
				// template, where anyone allowed to describe instances could read it.
				Sid:       jsii.String("ReadBuilderToken"),
				Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
				Resources: jsii.Strings(*tokens.SecretArn()),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				// The agent binary, published to the farm bucket by the operator.
				Sid:       jsii.String("FetchAgentBinary"),
				Actions:   jsii.Strings("s3:GetObject"),
				Resources: jsii.Strings(*f.Bucket.ArnForObjects(jsii.String(agentKey))),
			}),
		},
	}))

	f.output("BuilderTokensSecretArn", tokens.SecretArn(), "Builder tokens as JSON {\"<builder name>\": \"<token>\"} for the Auto Scaling builders")
	f.output("AgentBinaryS3Uri", jsii.String("s3://"+*f.Bucket.BucketName()+"/"+agentKey), "Upload the farm-builder binary ("+goarch+") here")

	vpc := awsec2.NewVpc(f.Stack, jsii.String("BuilderVpc"), &awsec2.VpcProps{
		MaxAzs:      jsii.Number(2),
		NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
			Name: jsii.String("builders"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24),
		}},
		RestrictDefaultSecurityGroup: jsii.Bool(false),
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"Rejected": {
				TrafficType: awsec2.FlowLogTrafficType_REJECT,
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(f.logGroup("BuilderVpcFlowLogs"), nil),
			},
		},
	})
	sg := awsec2.NewSecurityGroup(f.Stack, jsii.String("BuilderSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("buildfarm builders: no inbound; outbound to the API, SQS, S3 and what jobs fetch"),
		AllowAllOutbound: jsii.Bool(true),
	})
	for i, name := range f.Config.BuilderNames {
		ud := awsec2.UserData_ForLinux(&awsec2.LinuxUserDataOptions{Shebang: jsii.String("#!/bin/bash")})
		for _, line := range agentUserData(agentUserDataParams{
			Region:    *awscdk.Aws_REGION(),
			Bucket:    *f.Bucket.BucketName(),
			AgentKey:  agentKey,
			SecretARN: *tokens.SecretArn(),
			API:       *f.APIStage.Url(),
			Name:      name,
			Pools:     strings.Join(f.Config.BuilderPools, ","),
			Slots:     f.Config.BuilderSlots,
		}) {
			ud.AddCommands(jsii.String(line))
		}
		id := fmt.Sprintf("Builder%d", i+1)
		lt := awsec2.NewLaunchTemplate(f.Stack, jsii.String(id+"Template"), &awsec2.LaunchTemplateProps{
			MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
				CpuType: cpu,
			}),
			InstanceType:             itype,
			InstanceProfile:          profile,
			SecurityGroup:            sg,
			UserData:                 ud,
			RequireImdsv2:            jsii.Bool(true),
			HttpPutResponseHopLimit:  jsii.Number(1),
			AssociatePublicIpAddress: jsii.Bool(true),
			DetailedMonitoring:       jsii.Bool(true),
			BlockDevices: &[]*awsec2.BlockDevice{{
				DeviceName: jsii.String("/dev/xvda"),
				Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(30), &awsec2.EbsDeviceOptions{
					Encrypted: jsii.Bool(true), VolumeType: awsec2.EbsDeviceVolumeType_GP3, DeleteOnTermination: jsii.Bool(true),
				}),
			}},
		})
		asg := awsautoscaling.NewAutoScalingGroup(f.Stack, jsii.String(id), &awsautoscaling.AutoScalingGroupProps{
			Vpc:            vpc,
			VpcSubnets:     &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
			LaunchTemplate: lt,
			MinCapacity:    jsii.Number(1),
			MaxCapacity:    jsii.Number(1),
			Notifications:  &[]*awsautoscaling.NotificationConfiguration{{Topic: f.AlarmTopic}},
		})
		awscdk.Tags_Of(asg).Add(jsii.String("buildfarm:builder"), jsii.String(name), nil)
	}
}
