// Command farm-provision creates the farm's tables, queues and bucket on the
// endpoint named by AWS_ENDPOINT_URL (moto or LocalStack) from the shared
// topology (FARM_PREFIX, FARM_POOLS_CONFIG). It is idempotent. On AWS the CDK
// stack provisions instead.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "farm-provision:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("AWS_ENDPOINT_URL") == "" && os.Getenv("FARM_PROVISION_AWS") != "1" {
		return fmt.Errorf("AWS_ENDPOINT_URL is not set; refusing to provision real AWS (the CDK stack does that; set FARM_PROVISION_AWS=1 to insist)")
	}
	top, err := topology.FromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return err
	}
	res, err := provision.Apply(ctx, cfg, top)
	if err != nil {
		return err
	}
	fmt.Printf("provisioned %q: %d tables, %d queues, bucket %s\n", top.Prefix, len(top.Tables()), len(res.QueueURLs), top.Bucket.Name)
	names := make([]string, 0, len(res.QueueURLs))
	for n := range res.QueueURLs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("  %s\t%s\n", n, res.QueueURLs[n])
	}
	return nil
}
