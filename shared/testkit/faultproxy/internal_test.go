package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClassifyNamesServiceAndOperation(t *testing.T) {
	t.Parallel()
	sig := func(svc string) string {
		return "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/" + svc + "/aws4_request, SignedHeaders=host, Signature=00"
	}
	cases := []struct {
		name           string
		method, target string
		header         map[string]string
		body           string
		svc, op        string
	}{
		{name: "dynamodb", method: "POST", target: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.PutItem", "Authorization": sig("dynamodb")}, svc: ServiceDynamoDB, op: "PutItem"},
		{name: "streams", method: "POST", target: "/", header: map[string]string{"X-Amz-Target": "DynamoDBStreams_20120810.GetRecords", "Authorization": sig("dynamodb")}, svc: ServiceStreams, op: "GetRecords"},
		{name: "sqs json", method: "POST", target: "/", header: map[string]string{"X-Amz-Target": "AmazonSQS.ReceiveMessage", "Authorization": sig("sqs")}, svc: ServiceSQS, op: "ReceiveMessage"},
		{name: "sqs query", method: "POST", target: "/", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": sig("sqs")}, body: "Action=SendMessage&Version=2012-11-05", svc: ServiceSQS, op: "SendMessage"},
		{name: "ec2", method: "POST", target: "/", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": sig("ec2")}, body: "Action=DescribeInstances&Version=2016-11-15", svc: ServiceEC2, op: "DescribeInstances"},
		{name: "autoscaling", method: "POST", target: "/", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": sig("autoscaling")}, body: "Action=SetDesiredCapacity&Version=2011-01-01", svc: ServiceAutoScaling, op: "SetDesiredCapacity"},
		{name: "other json service", method: "POST", target: "/", header: map[string]string{"X-Amz-Target": "secretsmanager.GetSecretValue", "Authorization": sig("secretsmanager")}, svc: "secretsmanager", op: "GetSecretValue"},
		{name: "s3 put", method: "PUT", target: "/bucket/a/b.txt", header: map[string]string{"Authorization": sig("s3")}, svc: ServiceS3, op: "PutObject"},
		{name: "s3 copy", method: "PUT", target: "/bucket/a", header: map[string]string{"X-Amz-Copy-Source": "/bucket/b"}, svc: ServiceS3, op: "CopyObject"},
		{name: "s3 get", method: "GET", target: "/bucket/a", svc: ServiceS3, op: "GetObject"},
		{name: "s3 head", method: "HEAD", target: "/bucket/a", svc: ServiceS3, op: "HeadObject"},
		{name: "s3 delete", method: "DELETE", target: "/bucket/a", svc: ServiceS3, op: "DeleteObject"},
		{name: "s3 list v2", method: "GET", target: "/bucket?list-type=2&prefix=x", svc: ServiceS3, op: "ListObjectsV2"},
		{name: "s3 list", method: "GET", target: "/bucket", svc: ServiceS3, op: "ListObjects"},
		{name: "s3 buckets", method: "GET", target: "/", svc: ServiceS3, op: "ListBuckets"},
		{name: "s3 create bucket", method: "PUT", target: "/bucket", svc: ServiceS3, op: "CreateBucket"},
		{name: "s3 notification", method: "PUT", target: "/bucket?notification", svc: ServiceS3, op: "PutBucketNotificationConfiguration"},
		{name: "s3 lifecycle", method: "PUT", target: "/bucket?lifecycle", svc: ServiceS3, op: "PutBucketLifecycleConfiguration"},
		{name: "s3 multipart", method: "POST", target: "/bucket/k?uploads", svc: ServiceS3, op: "CreateMultipartUpload"},
		{name: "s3 part", method: "PUT", target: "/bucket/k?partNumber=1&uploadId=x", svc: ServiceS3, op: "UploadPart"},
		{name: "s3 presigned", method: "PUT", target: "/bucket/artifacts/j/x?X-Amz-Credential=test%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00", svc: ServiceS3, op: "PutObject"},
		{name: "emulator", method: "GET", target: "/moto-api/", svc: ServiceEmulator, op: "/moto-api/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			got := classify(r)
			if got.Service != c.svc || got.Operation != c.op {
				t.Fatalf("classify = %s.%s, want %s.%s", got.Service, got.Operation, c.svc, c.op)
			}
			if b, _ := io.ReadAll(r.Body); string(b) != c.body {
				t.Fatalf("the body was not put back: %q", b)
			}
		})
	}
}

func TestSDKAttemptHeader(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]int{"attempt=1; max=5": 1, "attempt=3; max=5": 3, "": 0, "attempt=x": 0, "ttl=1; attempt=2": 2} {
		if got := sdkAttempt(h); got != want {
			t.Errorf("sdkAttempt(%q) = %d, want %d", h, got, want)
		}
	}
}

// The n-th call of an operation meets the same fate for the same seed, and
// rates hold over many calls.
func TestSeededFatesRepeatAndRatesHold(t *testing.T) {
	t.Parallel()
	spec := Spec{Seed: 7, Rules: []Rule{
		{Service: ServiceDynamoDB, Operation: "PutItem", Fault: FaultThrottle, Rate: 0.05},
		{Service: ServiceDynamoDB, Fault: FaultError, Rate: 0.05},
		{Fault: FaultLatency, Rate: 0.1, Delay: Duration(1e6), DelayMax: Duration(5e6)},
	}}
	draw := func(s Spec) []fate {
		p := &Proxy{counts: map[Key]*Count{}, calls: map[Key]uint64{}}
		p.spec, p.picked = s, make([]int, len(s.Rules))
		var out []fate
		for i := range 20000 {
			op := []string{"PutItem", "GetItem"}[i%2]
			out = append(out, p.decide(request{Key: Key{ServiceDynamoDB, op}}, nil))
		}
		return out
	}
	a, b := draw(spec), draw(spec)
	other := spec
	other.Seed = 8
	c := draw(other)
	same, differ := true, false
	counts := map[Fault]int{}
	delayed := 0
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
		counts[a[i].fault]++
		if a[i].delay > 0 {
			delayed++
			if a[i].delay < 1e6 || a[i].delay > 5e6 {
				t.Fatalf("delay %v outside [1ms, 5ms]", a[i].delay)
			}
		}
	}
	if !same {
		t.Fatal("the same seed gave different fates")
	}
	if !differ {
		t.Fatal("another seed gave the very same fates")
	}
	// PutItem: 10000 calls, 5% throttled, then 5% of the rest 500s; GetItem: 5% 500s.
	within := func(name string, got int, want float64) {
		if f := float64(got); f < want*0.8 || f > want*1.2 {
			t.Errorf("%s: %d, want about %.0f", name, got, want)
		}
	}
	within("throttles", counts[FaultThrottle], 500)
	within("errors", counts[FaultError], 0.95*500+500)
	within("delayed", delayed, 2000)
}

func TestTimesCapsARule(t *testing.T) {
	t.Parallel()
	p := &Proxy{counts: map[Key]*Count{}, calls: map[Key]uint64{}}
	p.spec = Spec{Rules: []Rule{{Service: ServiceSQS, Fault: FaultError, Rate: 1, Times: 2}}}
	p.picked = make([]int, 1)
	var got []Fault
	for range 4 {
		got = append(got, p.decide(request{Key: Key{ServiceSQS, "SendMessage"}}, nil).fault)
	}
	if got[0] != FaultError || got[1] != FaultError || got[2] != "" || got[3] != "" {
		t.Fatalf("fates %v, want two errors then none", got)
	}
	if c := p.counts[Key{ServiceSQS, "SendMessage"}]; c.Errors != 2 || c.Requests != 4 {
		t.Fatalf("counts %+v", c)
	}
}

func TestSpecParsing(t *testing.T) {
	t.Parallel()
	s, err := ParseSpec([]byte(`{"seed":3,"rules":[{"service":"sqs","fault":"lose_answer","rate":0.03},
		{"fault":"latency","rate":0.02,"delay":"200ms","delay_max":"1s"}],
		"outages":[{"after":"30s","duration":"20s","mode":"refuse"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed != 3 || len(s.Rules) != 2 || s.Rules[1].DelayMax.D().String() != "1s" || s.Outages[0].After.D().String() != "30s" {
		t.Fatalf("parsed %+v", s)
	}
	for _, bad := range []string{
		`{"rules":[{"fault":"explode","rate":0.1}]}`,
		`{"rules":[{"fault":"error","rate":1.5}]}`,
		`{"rules":[{"fault":"latency","rate":0.5}]}`,
		`{"rules":[{"fault":"error","rate":0.1,"sevice":"sqs"}]}`,
		`{"outages":[{"duration":"0s"}]}`,
		`{"outages":[{"duration":"1s","mode":"refuse","services":["sqs"]}]}`,
		`{"outages":[{"duration":"soon"}]}`,
	} {
		if _, err := ParseSpec([]byte(bad)); err == nil {
			t.Errorf("ParseSpec(%s) accepted it", bad)
		}
	}
}

// The error shapes carry what the SDK reads: the awsJson __type and the
// query-compatibility header, S3's XML code.
func TestErrorShapesOnTheWire(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	errorFor(ServiceSQS, "SendMessage", kindThrottle, "").write(rec, request{Key: Key{ServiceSQS, "SendMessage"}, proto: protoJSON}, "r1")
	if rec.Code != 400 || rec.Header().Get("X-Amzn-Query-Error") != "RequestThrottled;Sender" || !strings.Contains(rec.Body.String(), `"__type":"com.amazonaws.sqs#RequestThrottled"`) {
		t.Fatalf("sqs throttle: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	errorFor(ServiceS3, "PutObject", kindThrottle, "").write(rec, request{Key: Key{ServiceS3, "PutObject"}, proto: protoREST}, "r2")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "<Code>SlowDown</Code>") {
		t.Fatalf("s3 throttle: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	errorFor(ServiceAutoScaling, "SetDesiredCapacity", kindThrottle, "").write(rec, request{Key: Key{ServiceAutoScaling, "SetDesiredCapacity"}, proto: protoQuery}, "r3")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "<Type>Sender</Type><Code>Throttling</Code>") {
		t.Fatalf("autoscaling throttle: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	errorFor(ServiceEC2, "RunInstances", kindThrottle, "").write(rec, request{Key: Key{ServiceEC2, "RunInstances"}, proto: protoQuery}, "r4")
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "<Errors><Error><Code>RequestLimitExceeded</Code>") {
		t.Fatalf("ec2 throttle: %d %s", rec.Code, rec.Body)
	}
}

func TestBodyContainsPicksOneKindOfWrite(t *testing.T) {
	t.Parallel()
	p := &Proxy{counts: map[Key]*Count{}, calls: map[Key]uint64{}}
	p.spec = Spec{Rules: []Rule{{Service: ServiceDynamoDB, Operation: "PutItem", Fault: FaultLoseAnswer, Rate: 1,
		BodyContains: []string{`"TableName":"t-jobs"`, `"status":{"S":"running"}`}, BodyLacks: []string{`{"S":"queued"}`}}}}
	p.picked = make([]int, 1)
	k := Key{ServiceDynamoDB, "PutItem"}
	for body, want := range map[string]Fault{
		`{"TableName":"t-jobs","Item":{"status":{"S":"running"}}}`:   FaultLoseAnswer,
		`{"TableName":"t-jobs","Item":{"status":{"S":"succeeded"}}}`: "",
		`{"TableName":"t-events","Item":{"status":{"S":"running"}}}`: "",
	} {
		if got := p.decide(request{Key: k}, []byte(body)).fault; got != want {
			t.Errorf("%s: fate %q, want %q", body, got, want)
		}
	}
	if got := p.decide(request{Key: k}, nil).fault; got != "" {
		t.Errorf("no body: fate %q", got)
	}
	// The body is read only when a rule needs it, and put back whole.
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"TableName":"t-jobs"}`))
	if b := p.bodyFor(r, k); string(b) != `{"TableName":"t-jobs"}` {
		t.Fatalf("bodyFor = %q", b)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != `{"TableName":"t-jobs"}` {
		t.Fatalf("body after bodyFor: %q", b)
	}
	if b := p.bodyFor(httptest.NewRequest("POST", "/", strings.NewReader("x")), Key{ServiceSQS, "SendMessage"}); b != nil {
		t.Fatalf("read a body no rule needs: %q", b)
	}
}
