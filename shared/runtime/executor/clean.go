package executor

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// CleanResource cleans a released resource of a resource pool with its
// pool's clean script (sh). A pool without a script has nothing to clean:
// the job succeeds at once and the resource is free again.
type CleanResource struct{ Runner }

func (c *CleanResource) Execute(ctx context.Context, t *Task) Outcome {
	var args farm.CleanResourceArgs
	if err := decodePayload(t, &args); err != nil {
		return Failed("clean-resource payload: %v", err)
	}
	if args.CleanScript == "" {
		note(t.Log, "resource %s of pool %s: the pool has no clean script, nothing to clean", args.Resource, args.ResourcePool)
		code := 0
		return Outcome{Result: farm.StatusSucceeded, ExitCode: &code}
	}
	note(t.Log, "cleaning resource %s of pool %s", args.Resource, args.ResourcePool)
	return c.runCommand(ctx, t, nil, args.CleanScript, map[string]string{
		"FARM_RESOURCE_POOL": args.ResourcePool,
		"FARM_RESOURCE":      args.Resource,
	}, nil)
}
