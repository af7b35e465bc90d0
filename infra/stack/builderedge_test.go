package stack

import (
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

// TestBuilderFunctionURL: builders reach the api function through its own
// URL (no API Gateway charge per request), authenticated by the farm's
// bearer tokens; the URL is the builders' FARM_API and an output.
func TestBuilderFunctionURL(t *testing.T) {
	t.Parallel()
	if topology.BuilderAPIEdge != topology.EdgeFunctionURL {
		t.Fatalf("BuilderAPIEdge %q: the stack gives builders the function URL", topology.BuilderAPIEdge)
	}
	for name, fx := range fixtures() {
		urls := fx.ofType("AWS::Lambda::Url")
		if len(urls) != 1 {
			t.Fatalf("%s: %d function URLs, want the api function's only", name, len(urls))
		}
		var urlID string
		for id, u := range urls {
			urlID = id
			p := u.Properties
			if toJSON(p["TargetFunctionArn"]) != toJSON(getAtt(fx.ids["fn:api"], "Arn")) {
				t.Errorf("%s: URL targets %v", name, p["TargetFunctionArn"])
			}
			if p["AuthType"] != "NONE" || p["Cors"] != nil {
				t.Errorf("%s: auth %v, cors %v: bearer tokens authenticate, no browser calls it", name, p["AuthType"], p["Cors"])
			}
		}
		// Anyone may invoke the URL (the function authenticates), and only through the URL.
		var public bool
		for _, perm := range fx.ofType("AWS::Lambda::Permission") {
			p := perm.Properties
			if p["Action"] == "lambda:InvokeFunctionUrl" {
				public = p["Principal"] == "*" && p["FunctionUrlAuthType"] == "NONE" &&
					toJSON(p["FunctionName"]) == toJSON(getAtt(fx.ids["fn:api"], "Arn"))
			}
		}
		if !public {
			t.Errorf("%s: no InvokeFunctionUrl permission for the URL", name)
		}
		if got := toJSON(fx.out["BuilderApiUrl"]); !strings.Contains(got, urlID) || !strings.Contains(got, "FunctionUrl") {
			t.Errorf("%s: BuilderApiUrl %s", name, got)
		}
		if got := toJSON(fx.out["ApiUrl"]); strings.Contains(got, urlID) {
			t.Errorf("%s: ApiUrl (people and farmctl) is the function URL: %s", name, got)
		}
		// The fleet's user data names the function URL as the builders' API.
		for _, p := range fx.farm.Config.Fleet {
			g := fx.res[fx.ids["fleet:"+p.Pool]].Properties
			ltRef := g["MixedInstancesPolicy"].(map[string]any)["LaunchTemplate"].(map[string]any)["LaunchTemplateSpecification"].(map[string]any)["LaunchTemplateId"].(map[string]any)
			ud := toJSON(fx.res[ltRef["Ref"].(string)].Properties["LaunchTemplateData"].(map[string]any)["UserData"])
			if !strings.Contains(ud, `FARM_API=`) || !strings.Contains(ud, toJSON(getAtt(urlID, "FunctionUrl"))) {
				t.Errorf("%s/%s: user data's FARM_API is not the function URL: %s", name, p.Pool, ud)
			}
			if strings.Contains(ud, fx.ids["api"]) {
				t.Errorf("%s/%s: user data names the HTTP API", name, p.Pool)
			}
		}
	}
}
