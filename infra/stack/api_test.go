package stack

import (
	"strings"
	"testing"
)

func TestHTTPAPI(t *testing.T) {
	t.Parallel()
	fx := defaultFarm
	api := fx.res[fx.ids["api"]]
	if api.Type != "AWS::ApiGatewayV2::Api" || api.Properties["ProtocolType"] != "HTTP" {
		t.Fatalf("api %v", api)
	}
	routes := fx.ofType("AWS::ApiGatewayV2::Route")
	if len(routes) != 1 {
		// $default sends /ui/* (the web page) to the function as well as /v1/*.
		t.Fatalf("%d routes, want only $default", len(routes))
	}
	for _, r := range routes {
		if r.Properties["RouteKey"] != "$default" {
			t.Errorf("route %v", r.Properties["RouteKey"])
		}
	}
	for _, in := range fx.ofType("AWS::ApiGatewayV2::Integration") {
		if in.Properties["PayloadFormatVersion"] != "2.0" || in.Properties["IntegrationType"] != "AWS_PROXY" {
			t.Errorf("integration %v", in.Properties)
		}
		if !strings.Contains(toJSON(in.Properties["IntegrationUri"]), fx.ids["fn:api"]) {
			t.Errorf("integration targets %v", in.Properties["IntegrationUri"])
		}
	}
	stage := fx.res[fx.ids["stage"]].Properties
	if stage["StageName"] != "$default" || stage["AutoDeploy"] != true {
		t.Errorf("stage %v", stage)
	}
	throttle := map[string]any{
		"ThrottlingRateLimit":  float64(fx.farm.Config.APIThrottleRate),
		"ThrottlingBurstLimit": float64(fx.farm.Config.APIThrottleBurst),
	}
	if toJSON(stage["DefaultRouteSettings"]) != toJSON(throttle) {
		t.Errorf("throttling %v", stage["DefaultRouteSettings"])
	}
	logs, _ := stage["AccessLogSettings"].(map[string]any)
	dest, _ := logs["DestinationArn"].(map[string]any)
	att, _ := dest["Fn::GetAtt"].([]any)
	if len(att) != 2 || fx.res[att[0].(string)].Type != "AWS::Logs::LogGroup" {
		t.Errorf("access logs go to %v", logs["DestinationArn"])
	}
	if f, _ := logs["Format"].(string); !strings.Contains(f, "$context.requestId") || !strings.Contains(f, "$context.status") {
		t.Errorf("access log format %q", f)
	}
	secret := fx.res[fx.ids["adminToken"]]
	if secret.Type != "AWS::SecretsManager::Secret" || secret.Properties["GenerateSecretString"] == nil {
		t.Errorf("admin token secret %v", secret)
	}
}
