package stack

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
	"github.com/buildfarm/buildfarm/shared/runtime/reaperfn"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

type fnSpec struct {
	name        string
	description string
	timeout     float64 // seconds
	memory      float64 // MB
}

var fnSpecs = map[string]fnSpec{
	// API Gateway HTTP APIs give up on an integration after 30 s.
	FnAPI:      {FnAPI, "HTTP API (API Gateway payload v2)", 29, 512},
	FnIngest:   {FnIngest, "S3 incoming/ notifications (via SQS) to jobs", 30, 256},
	FnDispatch: {FnDispatch, "jobs table stream to pool doorbells", 60, 256},
	// A pass, then sweeps of the reap index while jobs run until shortly
	// before the next minute's invocation (reaperfn.SweepWindow).
	FnReaper: {FnReaper, "expired leases, lost builders, GC, queue metrics", reaperfn.Timeout.Seconds(), 256},
}

// adminToken is the bootstrap admin token: a generated secret whose
// SecretString is the bearer token itself. The api function reads it.
func (f *Farm) adminToken() {
	f.AdminToken = awssecretsmanager.NewSecret(f.Stack, jsii.String("AdminToken"), &awssecretsmanager.SecretProps{
		Description: jsii.String(f.label() + ": bootstrap admin bearer token (SecretString is the token)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(48),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
		RemovalPolicy: f.removal(),
	})
}

// functions declares the four Lambdas, each with its own role, log group,
// trigger and only the grants it needs.
func (f *Farm) functions() {
	f.Functions = map[string]awslambda.Function{}
	env := map[string]*string{
		topology.EnvPrefix: jsii.String(f.Topology.Prefix),
		topology.EnvPools:  jsii.String(strings.Join(f.Topology.Pools, ",")),
		EnvBucket:          f.Bucket.BucketName(),
		EnvJobRetention:    jsii.String(strconv.Itoa(f.Config.JobRetentionDays)),
	}
	if f.Config.DispatchShards != "" {
		env[wiring.EnvDispatchShards] = jsii.String(f.Config.DispatchShards)
	}
	for _, name := range FunctionNames {
		e := make(map[string]*string, len(env)+1)
		for k, v := range env {
			e[k] = v
		}
		if name == FnAPI {
			e[EnvAdminTokenSecret] = f.AdminToken.SecretArn()
		}
		f.Functions[name] = f.function(fnSpecs[name], e)
	}
	f.grantAPI()
	f.grantIngest()
	f.grantDispatch()
	f.grantReaper()
}

func (f *Farm) function(s fnSpec, env map[string]*string) awslambda.Function {
	id := strings.ToUpper(s.name[:1]) + s.name[1:]
	logs := f.logGroup(id + "Logs")
	// An explicit role instead of the default one: the default attaches the
	// AWSLambdaBasicExecutionRole managed policy (logs on every log group).
	role := awsiam.NewRole(f.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(f.label() + " " + s.name + " function"),
	})
	logs.GrantWrite(role)
	arch := awslambda.Architecture_ARM_64()
	if f.Config.LambdaArch == "x86_64" {
		arch = awslambda.Architecture_X86_64()
	}
	return awslambda.NewFunction(f.Stack, jsii.String(id), &awslambda.FunctionProps{
		FunctionName:  jsii.String(f.Config.Prefix + "-" + s.name),
		Description:   jsii.String(f.label() + ": " + s.description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  arch,
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(f.Config.FunctionsDir, s.name)), nil),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(s.timeout)),
		MemorySize:    jsii.Number(s.memory),
		Environment:   &env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		// The levels the benchmark prices log ingestion by.
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel(topology.LambdaApplicationLogLevel),
		SystemLogLevelV2:      awslambda.SystemLogLevel(topology.LambdaSystemLogLevel),
	})
}

func (f *Farm) tablesByID(ids ...string) []awsdynamodb.Table {
	out := make([]awsdynamodb.Table, 0, len(ids))
	for _, id := range ids {
		out = append(out, f.Tables[id])
	}
	return out
}

func (f *Farm) grantTables(fn awslambda.Function, ids ...string) {
	for _, t := range f.tablesByID(ids...) {
		t.GrantReadWriteData(fn)
	}
}

func (f *Farm) grantPoolDoorbells(fn awslambda.Function) {
	for _, q := range f.poolQueues(nil) {
		q.GrantSendMessages(fn)
	}
}

// grantObjects allows action on the objects under prefixes. Readers also get
// s3:ListBucket on the bucket: without it S3 answers a missing key with 403
// instead of 404 (NoSuchKey), and the functions tell "no log yet" from
// "forbidden" by that. CDK's GrantRead/GrantPut would add
// wildcard actions (s3:GetObject*, s3:GetBucket*, s3:List*, s3:Abort*) that
// no function needs.
func (f *Farm) grantObjects(fn awslambda.Function, action string, prefixes ...string) {
	arns := make([]*string, 0, len(prefixes))
	for _, p := range prefixes {
		arns = append(arns, f.Bucket.ArnForObjects(jsii.String(p+"*")))
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: fn, Actions: jsii.Strings(action), ResourceArns: &arns,
	})
	if action == "s3:GetObject" {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: fn, Actions: jsii.Strings("s3:ListBucket"), ResourceArns: &[]*string{f.Bucket.BucketArn()},
		})
	}
}

func (f *Farm) grantAPI() {
	fn, top := f.Functions[FnAPI], f.Topology
	var all []string
	for _, t := range top.Tables() {
		all = append(all, t.ID)
	}
	f.grantTables(fn, all...)
	f.grantPoolDoorbells(fn)
	// Presigned artifact uploads and downloads, log reads/writes (heartbeats
	// carry the log tail) and reads of uploaded inputs; nothing else in the bucket.
	b := top.Bucket
	f.grantObjects(fn, "s3:GetObject", b.ArtifactsPrefix, b.LogsPrefix, b.IncomingPrefix)
	f.grantObjects(fn, "s3:PutObject", b.ArtifactsPrefix, b.LogsPrefix)
	// Artifact downloads name the object version the completion recorded.
	f.grantObjects(fn, "s3:GetObjectVersion", b.ArtifactsPrefix)
	f.AdminToken.GrantRead(fn, nil)
}

func (f *Farm) grantIngest() {
	fn, top := f.Functions[FnIngest], f.Topology
	f.grantTables(fn, top.Jobs.ID, top.Idempotency.ID)
	f.grantPoolDoorbells(fn)
	f.grantObjects(fn, "s3:GetObject", top.Bucket.IncomingPrefix)
	fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(f.Queues[top.IngestQueue.ID], &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
	}))
}

// grantDispatch grants the dispatch function exactly the table actions its
// stream records need (dispatch.TableAccess, checked against the emulator by
// that package's tests), the pool doorbells and, through its event source,
// the stream and its failure queue.
func (f *Farm) grantDispatch() {
	fn, top := f.Functions[FnDispatch], f.Topology
	for _, id := range slices.Sorted(maps.Keys(dispatch.TableAccess)) {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      fn,
			Actions:      jsii.Strings(dispatch.TableAccess[id]...),
			ResourceArns: &[]*string{f.Tables[id].TableArn()},
		})
	}
	f.grantPoolDoorbells(fn)
	fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(f.Tables[top.Jobs.ID], &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(100),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(float64(f.Config.DispatchRetryAttempts)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(24)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(f.DispatchFailures),
		// Only records the dispatcher has business with invoke it: the
		// end of a job something follows, and clean-resource jobs.
		Filters: streamFilters(dynamostore.DispatchFilter),
	}))
}

func (f *Farm) grantReaper() {
	fn, top := f.Functions[FnReaper], f.Topology
	f.grantTables(fn, top.Jobs.ID, top.JobDependents.ID, top.Builders.ID, top.Resources.ID, top.ResourcePools.ID, top.Idempotency.ID)
	f.grantPoolDoorbells(fn)
	awsevents.NewRule(f.Stack, jsii.String("ReaperSchedule"), &awsevents.RuleProps{
		Description: jsii.String(f.label() + ": reaper tick"),
		Schedule:    awsevents.Schedule_Expression(jsii.String("rate(1 minute)")),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			// A missed tick is made up by the next one a minute later.
			RetryAttempts: jsii.Number(0),
			MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(1)),
		})},
	})
}
