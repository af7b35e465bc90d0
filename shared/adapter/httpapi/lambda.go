package httpapi

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// LambdaHandler serves h to API Gateway HTTP API (payload format 2.0)
// events; pass it to lambda.Start. The request's context carries the Lambda
// context and the gateway's request context (its request id becomes the
// API's request id when the client sent none).
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}
