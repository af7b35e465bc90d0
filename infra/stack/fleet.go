package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/infra/config"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// AgentKeyPrefix is where scripts publish the farm-builder binary in the farm
// bucket: <prefix>farm-builder-linux-<arm64|amd64>.
const AgentKeyPrefix = "builder/"

// Tags on every fleet group (and, propagated, its instances).
const (
	TagPool   = "buildfarm:pool"
	TagPrefix = "buildfarm:prefix"
)

// goarch is the agent binary's architecture for a fleet arch.
func goarch(arch string) string {
	if arch == "x86_64" {
		return "amd64"
	}
	return "arm64"
}

// fleet declares the elastic EC2 fleet: one Auto Scaling group per
// configured pool — a launch template (IMDSv2 only, hop limit 1, encrypted
// root volume, the agent installed by user data with its token from the
// instance's own identity), a mixed instances policy (spot allowed), min
// and max from the config (max is a hard cap the scaler never passes), new
// instances protected from scale-in (only the scaler removes them, one by
// one, once their builder is drained and idle) — each with a role that
// reaches only its pool's doorbell queue; and the scaler function.
func (f *Farm) fleet() {
	if len(f.Config.Fleet) == 0 {
		return
	}
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
	f.FleetGroups = map[string]awsautoscaling.AutoScalingGroup{}
	f.FleetRoles = map[string]awsiam.Role{}
	arches := map[string]bool{}
	for _, p := range f.Config.Fleet {
		f.fleetGroup(p, vpc, sg)
		arches[goarch(p.Arch)] = true
	}
	for _, a := range []string{"arm64", "amd64"} {
		if arches[a] {
			f.output("AgentBinaryS3Uri"+a, jsii.String("s3://"+*f.Bucket.BucketName()+"/"+AgentKeyPrefix+"farm-builder-linux-"+a),
				"Upload the farm-builder binary (linux/"+a+") here: the fleet's instances fetch it at boot")
		}
	}
	f.scalerFunction()
}

func (f *Farm) fleetGroup(p config.FleetPool, vpc awsec2.IVpc, sg awsec2.ISecurityGroup) {
	id := "Fleet" + topology.LogicalSuffix(p.Pool)
	agentKey := AgentKeyPrefix + "farm-builder-linux-" + goarch(p.Arch)
	queue, _ := f.Topology.PoolQueue(p.Pool)
	// One role per pool: its instances consume their own pool's doorbells and
	// fetch the agent binary; their API token comes from their identity.
	role := awsiam.NewRole(f.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description: jsii.String(f.label() + ": fleet instances of pool " + p.Pool),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"builder": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
			Statements: &[]awsiam.PolicyStatement{
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid: jsii.String("ConsumePoolDoorbells"), Actions: jsii.Strings(BuilderQueueActions...),
					Resources: &[]*string{f.Queues[queue.ID].QueueArn()},
				}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid: jsii.String("FetchAgentBinary"), Actions: jsii.Strings("s3:GetObject"),
					Resources: &[]*string{f.Bucket.ArnForObjects(jsii.String(agentKey))},
				}),
			},
		})},
	})
	f.FleetRoles[p.Pool] = role
	ud := awsec2.UserData_ForLinux(&awsec2.LinuxUserDataOptions{Shebang: jsii.String("#!/bin/bash")})
	for _, line := range agentUserData(agentUserDataParams{
		Region: *awscdk.Aws_REGION(), Bucket: *f.Bucket.BucketName(), AgentKey: agentKey, API: *f.builderAPIURL(),
		Pool: p.Pool, Slots: p.Slots, Ephemeral: p.Ephemeral,
	}) {
		ud.AddCommands(jsii.String(line))
	}
	cpu := awsec2.AmazonLinuxCpuType_ARM_64
	if p.Arch == "x86_64" {
		cpu = awsec2.AmazonLinuxCpuType_X86_64
	}
	shutdown := awsec2.InstanceInitiatedShutdownBehavior_STOP
	if p.Ephemeral {
		// The agent's exit after its one job powers the instance off: gone for good.
		shutdown = awsec2.InstanceInitiatedShutdownBehavior_TERMINATE
	}
	lt := awsec2.NewLaunchTemplate(f.Stack, jsii.String(id+"Template"), &awsec2.LaunchTemplateProps{
		MachineImage:                      awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{CpuType: cpu}),
		InstanceType:                      awsec2.NewInstanceType(jsii.String(p.InstanceTypes[0])),
		Role:                              role,
		SecurityGroup:                     sg,
		UserData:                          ud,
		RequireImdsv2:                     jsii.Bool(true),
		HttpPutResponseHopLimit:           jsii.Number(1),
		AssociatePublicIpAddress:          jsii.Bool(true),
		DetailedMonitoring:                jsii.Bool(true),
		InstanceInitiatedShutdownBehavior: shutdown,
		BlockDevices: &[]*awsec2.BlockDevice{{
			DeviceName: jsii.String("/dev/xvda"),
			Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(float64(p.VolumeGiB)), &awsec2.EbsDeviceOptions{
				Encrypted: jsii.Bool(true), VolumeType: awsec2.EbsDeviceVolumeType_GP3, DeleteOnTermination: jsii.Bool(true),
			}),
		}},
	})
	overrides := make([]*awsautoscaling.LaunchTemplateOverrides, 0, len(p.InstanceTypes))
	for _, it := range p.InstanceTypes {
		overrides = append(overrides, &awsautoscaling.LaunchTemplateOverrides{InstanceType: awsec2.NewInstanceType(jsii.String(it))})
	}
	onDemandAbove := 100.0
	if p.Spot {
		onDemandAbove = 0
	}
	asg := awsautoscaling.NewAutoScalingGroup(f.Stack, jsii.String(id), &awsautoscaling.AutoScalingGroupProps{
		AutoScalingGroupName: jsii.String(f.Config.GroupName(p.Pool)),
		Vpc:                  vpc,
		VpcSubnets:           &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		MixedInstancesPolicy: &awsautoscaling.MixedInstancesPolicy{
			LaunchTemplate:          lt,
			LaunchTemplateOverrides: &overrides,
			InstancesDistribution: &awsautoscaling.InstancesDistribution{
				OnDemandBaseCapacity:                jsii.Number(float64(p.OnDemandBase)),
				OnDemandPercentageAboveBaseCapacity: jsii.Number(onDemandAbove),
				SpotAllocationStrategy:              awsautoscaling.SpotAllocationStrategy_PRICE_CAPACITY_OPTIMIZED,
			},
		},
		MinCapacity: jsii.Number(float64(p.Min)),
		// The hard cap: AWS refuses a desired capacity above it, and the
		// scaler never asks for one.
		MaxCapacity: jsii.Number(float64(p.Max)),
		// Desired capacity is the scaler's: a deploy never resets it.
		NewInstancesProtectedFromScaleIn: jsii.Bool(true),
		Notifications:                    &[]*awsautoscaling.NotificationConfiguration{{Topic: f.AlarmTopic}},
	})
	awscdk.Tags_Of(asg).Add(jsii.String(TagPool), jsii.String(p.Pool), nil)
	awscdk.Tags_Of(asg).Add(jsii.String(TagPrefix), jsii.String(f.Config.Prefix), nil)
	suppress(asg, true, suppression{
		id: "CdkNagValidationFailure",
		reason: "AwsSolutions-EC26 (encrypted EBS volumes) cannot read a launch template given through a mixed " +
			"instances policy; the template's only volume is encrypted (asserted by infra/stack/builders_test.go).",
		appliesTo: []string{"AwsSolutions-EC26"},
	})
	f.FleetGroups[p.Pool] = asg
	f.output(id+"GroupName", asg.AutoScalingGroupName(), "Auto Scaling group of pool "+p.Pool)
}
