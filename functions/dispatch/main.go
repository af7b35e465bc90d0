// Command dispatch is the Lambda behind the jobs table's DynamoDB stream.
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
		wiring.Exit(logger, "dispatch", err)
	}
	lambda.Start(f.Dispatcher().HandleLambda)
}
