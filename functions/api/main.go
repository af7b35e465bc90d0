// Command api is the Lambda behind the API Gateway HTTP API (payload format
// 2.0): it serves the farm's net/http API handler through
// aws-lambda-go-api-proxy. The bootstrap admin token is read at cold start
// from the Secrets Manager secret FARM_ADMIN_TOKEN_SECRET_ARN names (or from
// FARM_ADMIN_TOKEN); a farm with an EC2 fleet also gives its instances
// their tokens.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

func main() {
	// JSON lines with Lambda's requestId, and the API's request_id on every
	// line logged with a request's context (the services' included).
	logger := slog.New(httpapi.ContextHandler(lambdacontext.NewLogHandler()))
	slog.SetDefault(logger)
	ctx := context.Background()
	f, err := wiring.FromEnv(ctx, logger)
	if err != nil {
		wiring.Exit(logger, "api", err)
	}
	adminToken, err := wiring.AdminTokenFromEnv(ctx, os.Getenv, func() wiring.SecretsAPI { return secretsmanager.NewFromConfig(f.AWS) })
	if err != nil {
		wiring.Exit(logger, "api", err)
	}
	srv, err := f.API(adminToken)
	if err != nil {
		wiring.Exit(logger, "api", err)
	}
	// The refresher reads the auth generation every 2 s while the
	// instance serves; a frozen instance's first request after a thaw
	// reads it itself (authgen.Watcher).
	go f.RunAuthRefresh(ctx)
	lambda.Start(httpapi.LambdaHandler(srv))
}
