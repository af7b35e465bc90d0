// Package asgfleet is the elastic fleet's adapter to EC2 Auto Scaling: it
// describes a pool's group, sets its desired capacity and removes one
// instance for good (scale-in protection off, then terminated, desired
// capacity decremented), and tells the API which group an instance belongs
// to. It runs against AWS and against moto alike.
package asgfleet

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// API is the part of the Auto Scaling client the fleet uses.
type API interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DescribeAutoScalingInstances(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	SetInstanceProtection(ctx context.Context, in *autoscaling.SetInstanceProtectionInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetInstanceProtectionOutput, error)
	TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, opts ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
}

// Groups is the fleet's Auto Scaling groups (scaler.Groups).
type Groups struct{ api API }

// New returns the groups reached through api.
func New(api API) *Groups { return &Groups{api: api} }

func unavailable(op string, err error) error {
	return &farm.Error{Code: farm.EUnavailable, Message: "EC2 Auto Scaling is unavailable; try again", Err: fmt.Errorf("autoscaling %s: %w", op, err)}
}

// Describe reads a group: its limits, desired capacity and instances.
func (g *Groups) Describe(ctx context.Context, group string) (fleet.Group, error) {
	out, err := g.api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return fleet.Group{}, unavailable("describe groups", err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return fleet.Group{}, farm.Errorf(farm.ENotFound, "auto scaling group %s not found", group)
	}
	asg := out.AutoScalingGroups[0]
	fg := fleet.Group{Name: group, Min: int(aws.ToInt32(asg.MinSize)), Max: int(aws.ToInt32(asg.MaxSize)), Desired: int(aws.ToInt32(asg.DesiredCapacity))}
	for _, in := range asg.Instances {
		fg.Instances = append(fg.Instances, fleet.Instance{
			ID: aws.ToString(in.InstanceId), Lifecycle: Lifecycle(in.LifecycleState), Protected: aws.ToBool(in.ProtectedFromScaleIn),
		})
	}
	return fg, nil
}

// Lifecycle reduces an Auto Scaling lifecycle state to the policy's.
func Lifecycle(s types.LifecycleState) fleet.Lifecycle {
	switch s {
	case types.LifecycleStatePending, types.LifecycleStatePendingWait, types.LifecycleStatePendingProceed:
		return fleet.Pending
	case types.LifecycleStateInService:
		return fleet.InService
	}
	return fleet.Leaving
}

// SetDesired sets the group's desired capacity. Callers keep it within the
// group's max (scaler.setDesired); moto would accept more.
func (g *Groups) SetDesired(ctx context.Context, group string, n int) error {
	_, err := g.api.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(int32(n)), HonorCooldown: aws.Bool(false),
	})
	if err != nil {
		return unavailable("set desired capacity", err)
	}
	return nil
}

// Remove takes an instance out of its group for good: scale-in protection
// off, then TerminateInstanceInAutoScalingGroup, decrementing desired
// capacity when decrement is set. An instance no longer alive in the group
// is left alone (nil): it is gone already.
func (g *Groups) Remove(ctx context.Context, group, instanceID string, decrement bool) error {
	cur, alive, err := g.InstanceGroup(ctx, instanceID)
	if err != nil {
		return err
	}
	if cur != group || !alive {
		return nil
	}
	if _, err := g.api.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(group), InstanceIds: []string{instanceID}, ProtectedFromScaleIn: aws.Bool(false),
	}); err != nil {
		return unavailable("set instance protection", err)
	}
	if _, err := g.api.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(instanceID), ShouldDecrementDesiredCapacity: aws.Bool(decrement),
	}); err != nil {
		return unavailable("terminate instance", err)
	}
	return nil
}

// InstanceGroup returns the group an instance belongs to and whether it is
// alive there (pending or in service); "" when it is in none.
func (g *Groups) InstanceGroup(ctx context.Context, instanceID string) (string, bool, error) {
	out, err := g.api.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return "", false, unavailable("describe instances", err)
	}
	for _, in := range out.AutoScalingInstances {
		if aws.ToString(in.InstanceId) == instanceID {
			life := Lifecycle(types.LifecycleState(aws.ToString(in.LifecycleState)))
			return aws.ToString(in.AutoScalingGroupName), life == fleet.Pending || life == fleet.InService, nil
		}
	}
	return "", false, nil
}
