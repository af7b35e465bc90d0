package scalertest

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// GroupSpec is a pool's group as the CDK stack declares it, for making the
// same on an emulator (tests, the local runtime).
type GroupSpec struct {
	Name          string
	Pool          string
	Min, Max      int
	InstanceTypes []string
	// ImageID is any image the emulator knows (moto: ami-12c6146b).
	ImageID string
}

// CreateGroup makes a launch template (IMDSv2 only, hop limit 1) and an Auto
// Scaling group with a mixed instances policy (all spot above no on-demand
// base), new instances protected from scale-in, tagged with its pool. It
// returns a function that deletes both.
func CreateGroup(ctx context.Context, ec2api *ec2.Client, asgapi *autoscaling.Client, spec GroupSpec) (func(context.Context) error, error) {
	lt, err := ec2api.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(spec.Name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			ImageId:      aws.String(spec.ImageID),
			InstanceType: ec2types.InstanceType(spec.InstanceTypes[0]),
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
				HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1),
			},
			InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorTerminate,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("launch template %s: %w", spec.Name, err)
	}
	subnets, err := ec2api.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil || len(subnets.Subnets) == 0 {
		return nil, fmt.Errorf("subnets for %s: %v (%d found)", spec.Name, err, len(subnets.Subnets))
	}
	var overrides []types.LaunchTemplateOverrides
	for _, it := range spec.InstanceTypes {
		overrides = append(overrides, types.LaunchTemplateOverrides{InstanceType: aws.String(it)})
	}
	_, err = asgapi.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(spec.Name),
		MinSize:              aws.Int32(int32(spec.Min)),
		MaxSize:              aws.Int32(int32(spec.Max)),
		DesiredCapacity:      aws.Int32(int32(spec.Min)),
		MixedInstancesPolicy: &types.MixedInstancesPolicy{
			LaunchTemplate: &types.LaunchTemplate{
				LaunchTemplateSpecification: &types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")},
				Overrides:                   overrides,
			},
			InstancesDistribution: &types.InstancesDistribution{
				OnDemandBaseCapacity: aws.Int32(0), OnDemandPercentageAboveBaseCapacity: aws.Int32(0),
				SpotAllocationStrategy: aws.String("price-capacity-optimized"),
			},
		},
		NewInstancesProtectedFromScaleIn: aws.Bool(true),
		VPCZoneIdentifier:                subnets.Subnets[0].SubnetId,
		Tags: []types.Tag{{Key: aws.String("buildfarm:pool"), Value: aws.String(spec.Pool), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String(spec.Name), ResourceType: aws.String("auto-scaling-group")}},
	})
	if err != nil {
		return nil, fmt.Errorf("auto scaling group %s: %w", spec.Name, err)
	}
	return func(ctx context.Context) error {
		_, err := asgapi.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(spec.Name), ForceDelete: aws.Bool(true)})
		_, err2 := ec2api.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId})
		if err != nil {
			return err
		}
		return err2
	}, nil
}
