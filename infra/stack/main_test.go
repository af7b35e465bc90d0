package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Every test shares two synthesized farms (synthesizing through jsii costs
// seconds and hundreds of MB): the default configuration, and one with other
// pools and the builder Auto Scaling groups on.
//
// jsii-runtime-go is not safe for concurrent calls (responses interleave), so
// TestMain extracts everything tests need from jsii into plain Go data; the
// parallel tests only read that. Tests that call jsii (assertions.Template
// methods) do not call t.Parallel(): Go runs them before any parallel test.
type fixture struct {
	farm *Farm
	tpl  assertions.Template
	res  map[string]resource // the template's Resources
	out  map[string]any      // the template's Outputs
	ids  map[string]string   // construct key (see collectIDs) -> logical id
	// cdk-nag findings left unsuppressed (errors and warnings), "path: message".
	nagErrors, nagWarnings []string
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	Metadata   map[string]any `json:"Metadata"`
	DependsOn  any            `json:"DependsOn"`
	Deletion   string         `json:"DeletionPolicy"`
}

var defaultFarm, asgFarm *fixture

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "buildfarm-infra-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		fns := filepath.Join(dir, "functions")
		if err := dummyBootstraps(fns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if defaultFarm, err = synth(filepath.Join(dir, "default.out"), map[string]any{"functionsDir": fns}); err != nil {
			fmt.Fprintln(os.Stderr, "default farm:", err)
			return 1
		}
		if asgFarm, err = synth(filepath.Join(dir, "asg.out"), map[string]any{
			"functionsDir": fns, "prefix": "ci", "pools": "default,gpu-large", "builderPools": "gpu-large",
			"fleet": fleetJSON, "instanceIdentityCertificate": testIdentityCert,
			"alarmEmail": "ops@example.com", "retainData": "false", "oldestQueuedJobAgeAlarmSeconds": 600,
			"deferIndexes": "by-waiting", "dispatchShards": "gpu-large=4",
		}); err != nil {
			fmt.Fprintln(os.Stderr, "asg farm:", err)
			return 1
		}
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

func dummyBootstraps(dir string) error {
	for _, n := range append(FunctionNames, FnScaler) {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n, "bootstrap"), []byte("#!/bin/sh\n# test dummy\n"), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// synth builds the app exactly as cdk.json's `go run ./infra` does, with
// context instead of the CLI's (config "" so no infra/farm.json is read).
func synth(outdir string, ctx map[string]any) (*fixture, error) {
	ctx["config"] = ""
	app, farm, err := NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &ctx}, false)
	if err != nil {
		return nil, err
	}
	app.Synth(nil)
	tpl := assertions.Template_FromStack(farm.Stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
		Outputs   map[string]any      `json:"Outputs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	fx := &fixture{farm: farm, tpl: tpl, res: doc.Resources, out: doc.Outputs}
	fx.collectIDs()
	ann := assertions.Annotations_FromStack(farm.Stack)
	fx.nagErrors = messages(ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))))
	fx.nagWarnings = messages(ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))))
	return fx, nil
}

// messages formats the annotations the assertions found. The assertions
// API returns cxapi.SynthesisMessage, deprecated in favour of a package
// the Go bindings do not have yet.
//
//lint:ignore SA1019 the type Annotations.FindError returns
func messages(found *[]*cxapi.SynthesisMessage) []string {
	var out []string
	for _, m := range *found {
		//lint:ignore SA1019 the fields of the type Annotations.FindError returns
		out = append(out, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	return out
}

// collectIDs records the logical ids of the constructs tests look at.
func (f *fixture) collectIDs() {
	f.ids = map[string]string{}
	set := func(key string, c constructs.IConstruct) { f.ids[key] = f.lid(c) }
	for id, t := range f.farm.Tables {
		set("table:"+id, t)
	}
	for id, q := range f.farm.Queues {
		set("queue:"+id, q)
	}
	for id, q := range f.farm.DLQs {
		set("dlq:"+id, q)
	}
	for name, fn := range f.farm.Functions {
		set("fn:"+name, fn)
		set("role:"+name, fn.Role())
	}
	set("dispatchFailures", f.farm.DispatchFailures)
	set("bucket", f.farm.Bucket)
	set("accessLogs", f.farm.AccessLogs)
	set("adminToken", f.farm.AdminToken)
	set("api", f.farm.API)
	set("stage", f.farm.APIStage)
	set("builderRole", f.farm.BuilderRole)
	set("builderPolicy", f.farm.BuilderPolicy)
	set("builderProfile", f.farm.BuilderProfile)
	set("alarmTopic", f.farm.AlarmTopic)
	set("notificationsRole", f.farm.NotificationsRole)
	for pool, g := range f.farm.FleetGroups {
		set("fleet:"+pool, g)
		set("fleetRole:"+pool, f.farm.FleetRoles[pool])
	}
	if f.farm.Scaler != nil {
		set("fn:"+FnScaler, f.farm.Scaler)
		set("role:"+FnScaler, f.farm.Scaler.Role())
	}
}

func fixtures() map[string]*fixture {
	return map[string]*fixture{"default": defaultFarm, "asg": asgFarm}
}

// ofType returns logical id -> resource for every resource of typ.
func (f *fixture) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range f.res {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// logicalID of a resource by a property value (e.g. TableName).
func (f *fixture) logicalID(t *testing.T, typ, prop, value string) string {
	t.Helper()
	for id, r := range f.ofType(typ) {
		if v, ok := r.Properties[prop].(string); ok && v == value {
			return id
		}
	}
	t.Fatalf("no %s with %s=%q", typ, prop, value)
	return ""
}

// lid is the logical id of a construct's CloudFormation resource.
func (f *fixture) lid(c constructs.IConstruct) string {
	el := c.Node().DefaultChild().(awscdk.CfnElement)
	return f.farm.Stack.Resolve(f.farm.Stack.GetLogicalId(el)).(string)
}

func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// list normalizes a CloudFormation "one or many" value.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// cdk synth and cdk deploy work on a fresh checkout: cdk.json's build
// command (which the CDK CLI runs before it synthesizes) builds the
// functions' bootstraps that the stack packages.
func TestCDKJSONBuildsTheFunctions(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		App   string `json:"app"`
		Build string `json:"build"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.App != "go run ./infra" || cfg.Build != "scripts/build-functions" {
		t.Fatalf("cdk.json app %q, build %q", cfg.App, cfg.Build)
	}
	info, err := os.Stat(filepath.Join("../..", cfg.Build))
	if err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("%s is not an executable script: %v", cfg.Build, err)
	}
	script, _ := os.ReadFile(filepath.Join("../..", cfg.Build))
	for _, fn := range FunctionNames {
		if _, err := os.Stat(filepath.Join("../../functions", fn, "main.go")); err != nil {
			t.Errorf("function %s has no functions/%s/main.go for %s to build: %v", fn, fn, cfg.Build, err)
		}
	}
	if !strings.Contains(string(script), "dist/functions/$name") || !strings.Contains(string(script), "bootstrap") {
		t.Errorf("%s does not build dist/functions/<name>/bootstrap", cfg.Build)
	}
}
