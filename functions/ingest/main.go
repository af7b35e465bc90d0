// Command ingest is the Lambda that turns S3 uploads (through SQS) into jobs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/buildfarm/buildfarm/shared/wiring"
)

func main() {
	logger := lambdacontext.NewLogger()
	f, err := wiring.FromEnv(context.Background(), logger)
	if err != nil {
		wiring.Exit(logger, "ingest", err)
	}
	lambda.Start(f.Ingest().HandleLambda)
}
