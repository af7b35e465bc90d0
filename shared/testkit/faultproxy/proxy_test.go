package faultproxy_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// world is a table, a queue and a bucket on the emulator, and clients that
// reach them directly.
type world struct {
	table, queueURL, bucket string
	direct                  aws.Config
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{direct: emulatortest.Config(t)}
	name := "fp" + strings.ToLower(farm.NewSecret(4))
	w.table, w.bucket = name, name
	db := dynamodb.NewFromConfig(w.direct)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		StreamSpecification:  &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeKeysOnly},
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.NewFromConfig(w.direct).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	w.queueURL = aws.ToString(q.QueueUrl)
	if _, err := awsconf.NewS3(w.direct).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return w
}

// through returns a config whose clients go through p with the farm's
// retryer, capped at attempts (0: the farm's MaxAttempts).
func (w *world) through(t *testing.T, p *faultproxy.Proxy, attempts int) aws.Config {
	t.Helper()
	// A config loaded for the proxy's URL (the loader's endpoint option
	// outranks a BaseEndpoint set on a copy).
	cfg, err := (&emulator.Emulator{URL: p.URL}).Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retryer = func() aws.Retryer {
		if attempts > 0 {
			return retry.AddWithMaxAttempts(awsconf.NewRetryer(), attempts)
		}
		return awsconf.NewRetryer()
	}
	return cfg
}

func startProxy(t *testing.T, spec faultproxy.Spec) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(emulatortest.Emulator(t).URL, faultproxy.Options{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func item(id string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}
}

// Each injected error reaches the SDK as the error AWS would send: the same
// code, status and (where the SDK models it) type, and the SDK's standard
// retryer classifies it as AWS's would — every one retryable, the
// throttles as throttles.
func TestInjectedErrorsAreTheServicesOwn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	rule := func(svc, op string, f faultproxy.Fault) faultproxy.Spec {
		return faultproxy.Spec{Rules: []faultproxy.Rule{{Service: svc, Operation: op, Fault: f, Rate: 1}}}
	}
	cases := []struct {
		name     string
		spec     faultproxy.Spec
		outage   []string // services to take down instead
		call     func(cfg aws.Config) error
		code     string
		status   int
		throttle bool
		typed    func(error) bool
	}{
		{
			name: "dynamodb item throttle", spec: rule("dynamodb", "PutItem", faultproxy.FaultThrottle),
			call: func(cfg aws.Config) error {
				_, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: &w.table, Item: item("a")})
				return err
			},
			code: "ProvisionedThroughputExceededException", status: 400, throttle: true,
			typed: func(err error) bool {
				var e *ddbtypes.ProvisionedThroughputExceededException
				return errors.As(err, &e)
			},
		},
		{
			name: "dynamodb control-plane throttle", spec: rule("dynamodb", "DescribeTable", faultproxy.FaultThrottle),
			call: func(cfg aws.Config) error {
				_, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &w.table})
				return err
			},
			code: "ThrottlingException", status: 400, throttle: true,
		},
		{
			name: "dynamodb 500", spec: rule("dynamodb", "GetItem", faultproxy.FaultError),
			call: func(cfg aws.Config) error {
				_, err := dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: &w.table, Key: item("a")})
				return err
			},
			code: "InternalServerError", status: 500,
			typed: func(err error) bool { var e *ddbtypes.InternalServerError; return errors.As(err, &e) },
		},
		{
			name: "dynamodb outage", outage: []string{"dynamodb"},
			call: func(cfg aws.Config) error {
				_, err := dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: &w.table, Key: item("a")})
				return err
			},
			code: "ServiceUnavailableException", status: 503,
		},
		{
			name: "streams throttle", spec: rule("streams", "ListStreams", faultproxy.FaultThrottle),
			call: func(cfg aws.Config) error {
				_, err := dynamodbstreams.NewFromConfig(cfg).ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: &w.table})
				return err
			},
			code: "LimitExceededException", status: 400, throttle: true,
		},
		{
			name: "sqs throttle", spec: rule("sqs", "SendMessage", faultproxy.FaultThrottle),
			call: func(cfg aws.Config) error {
				_, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String("x")})
				return err
			},
			code: "RequestThrottled", status: 400, throttle: true,
			typed: func(err error) bool { var e *sqstypes.RequestThrottled; return errors.As(err, &e) },
		},
		{
			name: "sqs 500", spec: rule("sqs", "ReceiveMessage", faultproxy.FaultError),
			call: func(cfg aws.Config) error {
				_, err := sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.queueURL})
				return err
			},
			code: "InternalFailure", status: 500,
		},
		{
			name: "sqs outage", outage: []string{"sqs"},
			call: func(cfg aws.Config) error {
				_, err := sqs.NewFromConfig(cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &w.table})
				return err
			},
			code: "AWS.SimpleQueueService.ServiceUnavailable", status: 503,
		},
		{
			name: "s3 slow down", spec: rule("s3", "PutObject", faultproxy.FaultThrottle),
			call: func(cfg aws.Config) error {
				_, err := awsconf.NewS3(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: &w.bucket, Key: aws.String("k"), Body: strings.NewReader("x")})
				return err
			},
			code: "SlowDown", status: 503, throttle: true,
		},
		{
			name: "s3 500", spec: rule("s3", "ListObjectsV2", faultproxy.FaultError),
			call: func(cfg aws.Config) error {
				_, err := awsconf.NewS3(cfg).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &w.bucket})
				return err
			},
			code: "InternalError", status: 500,
		},
	}
	retryer := awsconf.NewRetryer()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := startProxy(t, c.spec)
			if c.outage != nil {
				if err := p.StartOutage(faultproxy.Outage{Duration: faultproxy.Duration(time.Minute), Services: c.outage}); err != nil {
					t.Fatal(err)
				}
			}
			err := c.call(w.through(t, p, 1))
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Fatalf("error %v is not an API error", err)
			}
			var re interface{ HTTPStatusCode() int }
			if api.ErrorCode() != c.code || !errors.As(err, &re) || re.HTTPStatusCode() != c.status {
				t.Fatalf("got %s (HTTP %v), want %s (HTTP %d): %v", api.ErrorCode(), re, c.code, c.status, err)
			}
			if c.typed != nil && !c.typed(err) {
				t.Errorf("the SDK did not decode %s into its modelled type: %T", c.code, api)
			}
			if !retryer.IsErrorRetryable(err) {
				t.Errorf("the SDK's retryer does not retry %s", c.code)
			}
			throttle := retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
			if throttle != c.throttle {
				t.Errorf("throttle classification %v, want %v", throttle, c.throttle)
			}
			if got := p.Counts().Total().Failed(); got != 1 {
				t.Errorf("counted %d injected failures, want 1", got)
			}
		})
	}
}

// With the farm's retryer a call goes through a few throttles and 500s and
// succeeds; the proxy counts the retries the SDK made.
func TestTheSDKRetriesThroughThrottlesAndErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	p := startProxy(t, faultproxy.Spec{Rules: []faultproxy.Rule{
		{Service: "dynamodb", Operation: "PutItem", Fault: faultproxy.FaultThrottle, Rate: 1, Times: 2},
		{Service: "dynamodb", Operation: "PutItem", Fault: faultproxy.FaultError, Rate: 1, Times: 1},
		{Service: "sqs", Operation: "SendMessage", Fault: faultproxy.FaultThrottle, Rate: 1, Times: 2},
		{Service: "s3", Operation: "PutObject", Fault: faultproxy.FaultThrottle, Rate: 1, Times: 1},
		{Service: "s3", Operation: "PutObject", Fault: faultproxy.FaultError, Rate: 1, Times: 1},
	}})
	cfg := w.through(t, p, 0)
	start := time.Now()
	if _, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: &w.table, Item: item("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := awsconf.NewS3(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: &w.bucket, Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	t.Logf("three calls through 7 injected failures took %v", time.Since(start).Round(time.Millisecond))
	counts := p.Counts()
	for _, want := range []struct {
		svc, op            string
		requests, retries  int64
		throttles, errors_ int64
	}{
		{"dynamodb", "PutItem", 4, 3, 2, 1},
		{"sqs", "SendMessage", 3, 2, 2, 0},
		{"s3", "PutObject", 3, 2, 1, 1},
	} {
		c := counts.Get(want.svc, want.op)
		if c.Requests != want.requests || c.Retries != want.retries || c.Throttles != want.throttles || c.Errors != want.errors_ || c.Forwarded != 1 {
			t.Errorf("%s.%s: %+v, want %d requests, %d retries, %d throttles, %d errors, 1 forwarded", want.svc, want.op, c, want.requests, want.retries, want.throttles, want.errors_)
		}
	}
}

// An answer lost after the emulator applied the request: the caller sees a
// failure, yet the write is there. A conditional create retried by the SDK
// then fails its own condition: the hazard a store must handle by checking
// for its own write.
func TestALostAnswerWasApplied(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	direct := dynamodb.NewFromConfig(w.direct)
	exists := func(id string) bool {
		out, err := direct.GetItem(ctx, &dynamodb.GetItemInput{TableName: &w.table, Key: item(id), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item != nil
	}
	for _, fault := range []faultproxy.Fault{faultproxy.FaultLoseAnswer, faultproxy.FaultErrorAfterApply} {
		p := startProxy(t, faultproxy.Spec{Rules: []faultproxy.Rule{{Service: "dynamodb", Operation: "PutItem", Fault: fault, Rate: 1, Times: 1}}})
		id := "lost-" + string(fault)
		_, err := dynamodb.NewFromConfig(w.through(t, p, 1)).PutItem(ctx, &dynamodb.PutItemInput{TableName: &w.table, Item: item(id)})
		if err == nil {
			t.Fatalf("%s: the put succeeded", fault)
		}
		if !awsconf.NewRetryer().IsErrorRetryable(err) {
			t.Errorf("%s: the SDK would not retry %v", fault, err)
		}
		if !exists(id) {
			t.Fatalf("%s: the put whose answer was lost is not in the table", fault)
		}
		if c := p.Counts().Get("dynamodb", "PutItem"); c.Forwarded != 1 || c.LostAnswers+c.ErrorsAfterApply != 1 {
			t.Fatalf("%s: counts %+v", fault, c)
		}
	}

	// The SDK retries a lost conditional create; its own write fails the condition.
	p := startProxy(t, faultproxy.Spec{Rules: []faultproxy.Rule{{Service: "dynamodb", Operation: "PutItem", Fault: faultproxy.FaultLoseAnswer, Rate: 1, Times: 1}}})
	_, err := dynamodb.NewFromConfig(w.through(t, p, 0)).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &w.table, Item: item("created-once"), ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	var failed *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &failed) || !exists("created-once") {
		t.Fatalf("a retried create whose first answer was lost: %v (want ConditionalCheckFailedException on our own write)", err)
	}

	// SQS: a message whose send answer was lost is delivered all the same.
	p = startProxy(t, faultproxy.Spec{Rules: []faultproxy.Rule{{Service: "sqs", Operation: "SendMessage", Fault: faultproxy.FaultLoseAnswer, Rate: 1, Times: 1}}})
	if _, err := sqs.NewFromConfig(w.through(t, p, 1)).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String("lost")}); err == nil {
		t.Fatal("the send succeeded")
	}
	out, err := sqs.NewFromConfig(w.direct).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &w.queueURL, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "lost" {
		t.Fatalf("receive after a lost send answer: %v %+v", err, out)
	}
}

// An outage ends by itself: calls fail while it lasts (503s in the
// service's shape, or refused connections) and succeed after.
func TestAnOutageEndsByItself(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for _, mode := range []faultproxy.OutageMode{faultproxy.OutageErrors, faultproxy.OutageRefuse} {
		p := startProxy(t, faultproxy.Spec{})
		db := dynamodb.NewFromConfig(w.through(t, p, 1))
		get := func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &w.table, Key: item("x")})
			return err
		}
		if err := get(); err != nil {
			t.Fatalf("%s: before the outage: %v", mode, err)
		}
		const length = 1500 * time.Millisecond
		if err := p.StartOutage(faultproxy.Outage{Duration: faultproxy.Duration(length), Mode: mode}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := get()
		if mode == faultproxy.OutageRefuse {
			// A connection kept from before is cut (broken pipe, reset);
			// new ones are refused.
			var sendErr *smithyhttp.RequestSendError
			if !errors.As(err, &sendErr) {
				t.Fatalf("%s: %v, want a connection error", mode, err)
			}
			err = get()
		}
		switch {
		case err == nil:
			t.Fatalf("%s: a call during the outage succeeded", mode)
		case mode == faultproxy.OutageRefuse && !strings.Contains(err.Error(), "connection refused"):
			t.Fatalf("%s: %v, want a refused connection", mode, err)
		case mode == faultproxy.OutageErrors && !strings.Contains(err.Error(), "StatusCode: 503"):
			t.Fatalf("%s: %v, want a 503", mode, err)
		}
		if !p.Down() {
			t.Fatalf("%s: the proxy does not report the outage", mode)
		}
		for get() != nil {
			if time.Since(start) > length+5*time.Second {
				t.Fatalf("%s: still down %v after an outage of %v", mode, time.Since(start), length)
			}
			time.Sleep(50 * time.Millisecond)
		}
		back := time.Since(start)
		t.Logf("%s: calls succeed again %v after the start of a %v outage", mode, back.Round(time.Millisecond), length)
		if back < length-100*time.Millisecond {
			t.Errorf("%s: a call succeeded %v into a %v outage", mode, back, length)
		}
		if ws := p.Outages(); len(ws) != 1 || ws[0].Mode != mode {
			t.Errorf("outages %+v", ws)
		}
	}
}
