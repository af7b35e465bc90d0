// Command scaler is the Lambda that keeps each elastic pool's Auto Scaling
// group sized to its work: run every minute by EventBridge and early by a
// filtered jobs-stream event source on bursts of submissions.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/buildfarm/buildfarm/shared/asgfleet"
	"github.com/buildfarm/buildfarm/shared/fleet"
	"github.com/buildfarm/buildfarm/shared/scaler"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func main() {
	logger := lambdacontext.NewLogger()
	f, err := wiring.FromEnv(context.Background(), logger)
	if err != nil {
		wiring.Exit(logger, "scaler", err)
	}
	cfg, err := fleet.FromEnv()
	if err != nil {
		wiring.Exit(logger, "scaler", err)
	}
	s := &scaler.Scaler{Fleet: cfg, Store: f.Store, Drainer: f.Scheduler, Groups: asgfleet.New(autoscaling.NewFromConfig(f.AWS)), Metrics: os.Stdout, Logger: logger}
	lambda.Start(s.HandleLambda)
}
