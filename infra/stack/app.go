package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/infra/config"
)

// FeatureFlags are the CDK feature flags the farm is written against. They are
// set in code (not only in cdk.json) so tests and `go run ./infra` synthesize
// the same template as `cdk synth`; context from the CLI still wins.
var FeatureFlags = map[string]any{
	"@aws-cdk/core:checkSecretUsage":                                       true,
	"@aws-cdk/core:enablePartitionLiterals":                                true,
	"@aws-cdk/aws-iam:minimizePolicies":                                    true,
	"@aws-cdk/aws-iam:standardizedServicePrincipals":                       true,
	"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy":                      true,
	"@aws-cdk/aws-s3:createDefaultLoggingPolicy":                           true,
	"@aws-cdk/aws-ec2:launchTemplateDefaultUserData":                       true,
	"@aws-cdk/aws-ec2:restrictDefaultSecurityGroup":                        false,
	"@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig": true,
}

// NewApp builds the CDK app: settings from context (see infra/config), the
// farm stack, and the cdk-nag AWS Solutions checks.
func NewApp(props *awscdk.AppProps, nagReports bool) (awscdk.App, *Farm, error) {
	if props == nil {
		props = &awscdk.AppProps{}
	}
	ctx := map[string]any{}
	for k, v := range FeatureFlags {
		ctx[k] = v
	}
	if props.Context != nil {
		for k, v := range *props.Context {
			ctx[k] = v
		}
	}
	props.Context = &ctx
	app := awscdk.NewApp(props)
	cfg, err := config.Load(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return nil, nil, err
	}
	farm, err := New(app, cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	AddNag(app, nagReports)
	return app, farm, nil
}
