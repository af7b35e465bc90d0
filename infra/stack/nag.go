package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
)

// suppression is one cdk-nag finding accepted on purpose. Reason is required
// and ends up in the template's metadata next to the resource.
type suppression struct {
	id, reason string
	appliesTo  []string // exact finding details, or "regex:/.../" patterns
}

func suppress(construct any, children bool, ss ...suppression) {
	list := make([]*cdknag.NagPackSuppression, 0, len(ss))
	for _, s := range ss {
		if len(s.reason) < 10 {
			panic("nag suppression " + s.id + " needs a written reason")
		}
		n := &cdknag.NagPackSuppression{Id: jsii.String(s.id), Reason: jsii.String(s.reason)}
		if len(s.appliesTo) > 0 {
			at := make([]any, 0, len(s.appliesTo))
			for _, a := range s.appliesTo {
				if len(a) > 6 && a[:6] == "regex:" {
					at = append(at, &cdknag.RegexAppliesTo{Regex: jsii.String(a[6:])})
				} else {
					at = append(at, a)
				}
			}
			n.AppliesTo = &at
		}
		list = append(list, n)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &list, jsii.Bool(children))
}

// AddNag runs the AWS Solutions rule pack over everything in app.
func AddNag(app awscdk.App, reports bool) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Verbose: jsii.Bool(true),
		Reports: jsii.Bool(reports),
	}), nil)
}

// suppressions records the findings the farm accepts, each with its reason.
func (f *Farm) suppressions() {
	top := f.Topology
	var indexed []string
	for _, t := range dynamostore.Tables(top) {
		if len(t.Indexes) > 0 {
			indexed = append(indexed, t.ID)
		}
	}
	indexes := suppression{
		id: "AwsSolutions-IAM5",
		reason: "GrantReadWriteData covers a table's global secondary indexes as <table arn>/index/*; the functions " +
			"query the topology's indexes (jobs: dispatch order, leases, deadlines, listings; resources: leases), " +
			"which are only on these tables.",
		appliesTo: []string{`regex:/^Resource::<(` + strings.Join(indexed, "|") + `)[0-9A-F]{8}\.Arn>\/index\/\*$/`},
	}
	objects := suppression{
		id: "AwsSolutions-IAM5",
		reason: "Object keys are per job or upload (artifacts/<job id>/..., logs/<job id>..., incoming/<type>/...): " +
			"each function may only touch the prefixes it serves, with exact actions (s3:GetObject, s3:PutObject).",
		appliesTo: []string{`regex:/^Resource::<` + top.Bucket.ID + `[0-9A-F]{8}\.Arn>\/(` +
			strings.TrimSuffix(top.Bucket.ArtifactsPrefix, "/") + "|" + strings.TrimSuffix(top.Bucket.LogsPrefix, "/") + "|" +
			strings.TrimSuffix(top.Bucket.IncomingPrefix, "/") + `)\/\*$/`},
	}
	for _, name := range FunctionNames {
		role := f.Functions[name].Role()
		ss := []suppression{indexes}
		if name == FnAPI || name == FnIngest {
			ss = append(ss, objects)
		}
		if name == FnDispatch {
			ss = append(ss, suppression{
				id: "AwsSolutions-IAM5",
				reason: "dynamodb:ListStreams, added by the DynamoDB event source, does not support resource-level " +
					"permissions (Service Authorization Reference); that statement holds that one action and nothing else.",
				appliesTo: []string{"Resource::*"},
			})
		}
		suppress(role, true, ss...)
	}
	suppress(f.AdminToken, false, suppression{
		id: "AwsSolutions-SMG4",
		reason: "The bootstrap admin token is a bearer token for the farm's own API, not a credential of a service " +
			"Secrets Manager can rotate; operators mint scoped tokens with POST /v1/tokens and replace this one " +
			"with put-secret-value (docs/infra.md).",
	})
	suppress(f.API, true, suppression{
		id: "AwsSolutions-APIG4",
		reason: "The api function authenticates every route but GET /v1/health (public by contract) with bearer " +
			"tokens whose SHA-256 hashes are in the tokens table, and authorizes by role and builder name; an API " +
			"Gateway authorizer would duplicate that check on every request.",
	})
	suppress(f.DispatchFailures, false, suppression{
		id: "AwsSolutions-SQS3",
		reason: "This queue is itself a dead-letter queue: the on-failure destination of the jobs stream event " +
			"source. Its depth raises an alarm; giving it a DLQ of its own would only move the messages.",
	})
}
