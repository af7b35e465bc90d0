package asgfleet_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/buildfarm/buildfarm/shared/adapter/asgfleet"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/scalertest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// TestGroupOnTheEmulator drives a real (moto) Auto Scaling group: desired
// capacity launches protected instances, Remove takes exactly the named one
// out and decrements desired, and the group an instance belongs to is found.
func TestGroupOnTheEmulator(t *testing.T) {
	t.Parallel()
	cfg := emulatortest.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	asgapi := autoscaling.NewFromConfig(cfg)
	name := "t" + strings.ToLower(farm.NewSecret(4)) + "-default"
	del, err := scalertest.CreateGroup(ctx, ec2.NewFromConfig(cfg), asgapi, scalertest.GroupSpec{Name: name, Pool: "default", Min: 0, Max: 3, InstanceTypes: []string{"t4g.medium", "c7g.large"}, ImageID: "ami-12c6146b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = del(context.Background()) })
	g := asgfleet.New(asgapi)
	if err := g.SetDesired(ctx, name, 2); err != nil {
		t.Fatal(err)
	}
	grp, err := g.Describe(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if grp.Desired != 2 || grp.Max != 3 || len(grp.Instances) != 2 {
		t.Fatalf("group %+v", grp)
	}
	for _, in := range grp.Instances {
		if in.Lifecycle != fleet.InService || !in.Protected {
			t.Fatalf("instance %+v: want in service and protected from scale-in", in)
		}
	}
	victim, other := grp.Instances[0].ID, grp.Instances[1].ID
	if owner, alive, err := g.InstanceGroup(ctx, victim); err != nil || owner != name || !alive {
		t.Fatalf("instance group of %s: %q %v %v", victim, owner, alive, err)
	}
	if err := g.Remove(ctx, name, victim, true); err != nil {
		t.Fatal(err)
	}
	grp, err = g.Describe(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var alive []string
	for _, in := range grp.Instances {
		if in.Alive() {
			alive = append(alive, in.ID)
		}
	}
	if grp.Desired != 1 || len(alive) != 1 || alive[0] != other {
		t.Fatalf("after removing %s: desired %d, alive %v (want only %s)", victim, grp.Desired, alive, other)
	}
	// Removing it again, or an instance of no group, does nothing.
	if err := g.Remove(ctx, name, victim, true); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if owner, _, err := g.InstanceGroup(ctx, "i-0123456789abcdef0"); err != nil || owner != "" {
		t.Fatalf("unknown instance: %q %v", owner, err)
	}
	if _, err := g.Describe(ctx, name+"-none"); !farm.IsCode(err, farm.ENotFound) {
		t.Fatalf("missing group: %v", err)
	}
}
