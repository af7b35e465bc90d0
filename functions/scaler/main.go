// Command scaler is the Lambda that keeps each elastic pool's Auto Scaling
// group sized to its work: run every minute by EventBridge and early by a
// filtered jobs-stream event source on bursts of submissions.
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
		wiring.Exit(logger, "scaler", err)
	}
	lambda.Start(f.ScalerFn().HandleLambda)
}
