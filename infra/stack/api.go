package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// accessLogFormat is one JSON object per request, with HTTP API context variables.
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","path":"$context.path",` +
	`"routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol",` +
	`"responseLength":"$context.responseLength","latencyMs":"$context.responseLatency",` +
	`"integrationLatencyMs":"$context.integrationLatency","integrationError":"$context.integrationErrorMessage",` +
	`"userAgent":"$context.identity.userAgent"}`

// accessLogs implements awsapigatewayv2.IAccessLogSettings.
type accessLogs struct {
	dest   awsapigatewayv2.IAccessLogDestination
	format awsapigateway.AccessLogFormat
}

func (a *accessLogs) Destination() awsapigatewayv2.IAccessLogDestination { return a.dest }
func (a *accessLogs) Format() awsapigateway.AccessLogFormat              { return a.format }

// httpAPI fronts the api function with an HTTP API: every route goes to the
// function ($default route, payload v2) — /v1/* and the web page under
// /ui/ alike — which does its own bearer-token authentication; the $default
// stage is throttled and logs every request.
func (f *Farm) httpAPI() {
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), f.Functions[FnAPI],
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
			PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
		})
	f.API = awsapigatewayv2.NewHttpApi(f.Stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(f.Config.Prefix + "-api"),
		Description:        jsii.String(f.label() + " HTTP API"),
		DefaultIntegration: integration,
		CreateDefaultStage: jsii.Bool(false),
	})
	f.APIStage = f.API.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(float64(f.Config.APIThrottleRate)),
			BurstLimit: jsii.Number(float64(f.Config.APIThrottleBurst)),
		},
		AccessLogSettings: &accessLogs{
			dest:   awsapigatewayv2.NewLogGroupLogDestination(f.logGroup("ApiAccessLogs")),
			format: awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
	})
}

// builderEdge gives the api function a Function URL when builders reach
// the API through it (topology.BuilderAPIEdge): the same handler (a
// function URL event is an API Gateway payload 2.0 event) without API
// Gateway's charge per request. Its auth type is NONE because the farm
// authenticates every request itself with the same bearer tokens as on
// the HTTP API (docs/security.md); AWS_IAM would need SigV4 signing and
// IAM credentials on every builder, bare-metal ones included.
func (f *Farm) builderEdge() {
	if topology.BuilderAPIEdge != topology.EdgeFunctionURL {
		return
	}
	f.BuilderURL = f.Functions[FnAPI].AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_NONE,
		InvokeMode: awslambda.InvokeMode_BUFFERED,
	})
}

// builderAPIURL is the base URL builders are given as FARM_API.
func (f *Farm) builderAPIURL() *string {
	if f.BuilderURL != nil {
		return f.BuilderURL.Url()
	}
	return f.APIStage.Url()
}
