package fleete2e

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"pgregory.net/rapid"

	"github.com/buildfarm/buildfarm/shared/adapter/asgfleet"
	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/scalertest"
)

// TestFleetInvariantsOnTheEmulator runs random timelines (submits, claims,
// completions, builder deaths, time passing, overlapping scaler runs) with
// the DynamoDB store and a real moto Auto Scaling group — which, unlike
// AWS, would accept a desired capacity above max: the cap is ours to keep.
func TestFleetInvariantsOnTheEmulator(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		top, cfg, _ := emulatortest.Topology(t, "default")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		asgapi := autoscaling.NewFromConfig(cfg)
		lo := rapid.IntRange(0, 1).Draw(rt, "min")
		pool := fleet.PoolConfig{Pool: "default", Group: top.Prefix + "-default", Min: lo, Max: rapid.IntRange(max(lo, 1), 3).Draw(rt, "max"),
			Slots: rapid.IntRange(1, 2).Draw(rt, "slots"), IdleSeconds: rapid.IntRange(30, 300).Draw(rt, "idle"), BootSeconds: rapid.IntRange(60, 600).Draw(rt, "boot")}
		del, err := scalertest.CreateGroup(ctx, ec2.NewFromConfig(cfg), asgapi, scalertest.GroupSpec{Name: pool.Group, Pool: pool.Pool, Min: pool.Min, Max: pool.Max, InstanceTypes: []string{"t4g.medium"}, ImageID: "ami-12c6146b"})
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { _ = del(context.Background()) }()
		f := scalertest.NewSimFarm(dynamostore.New(dynamodb.NewFromConfig(cfg), top), asgfleet.New(asgapi), pool)
		scalertest.Timeline(rt, f, rapid.IntRange(8, 16).Draw(rt, "steps"))
	})
}
