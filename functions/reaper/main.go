// Command reaper is the Lambda run by the EventBridge schedule and by lease
// timers: expired leases, timeouts, lost builders, sweeps and queue metrics.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/buildfarm/buildfarm/shared/wiring"
)

func main() {
	logger := lambdacontext.NewLogger()
	f, err := wiring.FromEnv(context.Background(), logger)
	if err != nil {
		wiring.Exit(logger, "reaper", err)
	}
	lambda.Start(f.ReaperFn(os.Stdout).HandleLambda)
}
