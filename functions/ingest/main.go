// Command ingest is the Lambda that turns S3 uploads (through SQS) into jobs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/buildfarm/buildfarm/shared/runtime/ingest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func main() {
	logger := lambdacontext.NewLogger()
	f, err := wiring.FromEnv(context.Background(), logger)
	if err != nil {
		wiring.Exit(logger, "ingest", err)
	}
	h := &ingest.Handler{Jobs: f.Scheduler, IncomingPrefix: f.Config.Topology.Bucket.IncomingPrefix, Logger: logger}
	lambda.Start(h.HandleLambda)
}
