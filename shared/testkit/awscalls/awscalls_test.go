package awscalls_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

func config(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

func find(t *testing.T, cs awscalls.Calls, k awscalls.Key) awscalls.Stat {
	t.Helper()
	for _, e := range cs {
		if e.Key == k {
			return e.Stat
		}
	}
	t.Fatalf("no entry %+v in %+v", k, cs)
	return awscalls.Stat{}
}

// TestCountsRealCalls sends DynamoDB calls to an HTTP server that answers
// like DynamoDB: the first attempt of one call fails with a 500 and the
// SDK retries it.
func TestCountsRealCalls(t *testing.T) {
	var requests, failOnce atomic.Int64
	failOnce.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		target := r.Header.Get("X-Amz-Target")
		if strings.HasSuffix(target, ".GetItem") && failOnce.CompareAndSwap(1, 0) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}`))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if strings.HasSuffix(target, ".GetItem") {
			w.Write([]byte(`{"Item":{"id":{"S":"abc"}}}`))
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()

	c := awscalls.New()
	cfg := config(srv.URL)
	c.Attach(&cfg)
	db := dynamodb.NewFromConfig(cfg)
	tally := awscalls.New()
	ctx := awscalls.WithTally(awscalls.WithPhase(context.Background(), "submit"), tally)
	for range 2 {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("jobs"), Item: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "x"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("jobs"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "abc"}}}); err != nil {
		t.Fatal(err)
	}

	got := c.Snapshot()
	put := find(t, got, awscalls.Key{Service: "DynamoDB", Operation: "PutItem", Phase: "submit"})
	if put.Calls != 2 || put.Attempts != 2 || put.Errors != 0 || put.Nanos <= 0 {
		t.Errorf("PutItem: %+v", put)
	}
	get := find(t, got, awscalls.Key{Service: "DynamoDB", Operation: "GetItem"})
	if get.Calls != 1 || get.Attempts != 2 {
		t.Errorf("GetItem: want 1 call in 2 attempts, got %+v", get)
	}
	if n := requests.Load(); n != 4 {
		t.Errorf("server saw %d requests, want 4", n)
	}
	if st := tally.Snapshot().Total(nil); st.Calls != 2 {
		t.Errorf("the tally should hold the two calls made with its context: %+v", tally.Snapshot())
	}
	total := got.Total(nil)
	if total.Calls != 3 || total.Attempts != 4 {
		t.Errorf("total: %+v", total)
	}
}

// TestPresignIsNotACall: presigning sends nothing and is not counted; the
// presigned request sent through Transport is.
func TestPresignIsNotACall(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()

	c := awscalls.New()
	cfg := config(srv.URL)
	c.Attach(&cfg)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	pre, err := s3.NewPresignClient(client).PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot(); len(got) != 0 || requests.Load() != 0 {
		t.Fatalf("presign counted or sent: %+v, %d requests", got, requests.Load())
	}

	hc := &http.Client{Transport: c.Transport(nil, "complete")}
	req, _ := http.NewRequest(http.MethodPut, pre.URL, strings.NewReader("log"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A request without a signature passes uncounted.
	resp, err = hc.Get(srv.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := c.Snapshot()
	if st := find(t, got, awscalls.Key{Service: "S3", Operation: "PresignedPUT", Phase: "complete"}); st.Calls != 1 || st.Errors != 0 {
		t.Errorf("presigned PUT: %+v", st)
	}
	if len(got) != 1 || requests.Load() != 2 {
		t.Errorf("want one counted request of two: %+v, %d requests", got, requests.Load())
	}
}

func TestNilCounterCountsNothing(t *testing.T) {
	var c *awscalls.Counter
	cfg := config("http://127.0.0.1:1")
	c.Attach(&cfg)
	if len(cfg.APIOptions) != 0 {
		t.Fatal("a nil counter attached middleware")
	}
	if c.Transport(http.DefaultTransport, "x") != http.DefaultTransport {
		t.Fatal("a nil counter wrapped the transport")
	}
	c.Add(awscalls.Key{Service: "S3"}, awscalls.Stat{Calls: 1})
	if c.Snapshot() != nil {
		t.Fatal("a nil counter has counts")
	}
}

func TestSubMergeAndMap(t *testing.T) {
	c := awscalls.New()
	k1 := awscalls.Key{Service: "SQS", Operation: "SendMessage"}
	k2 := awscalls.Key{Service: "SQS", Operation: "ReceiveMessage"}
	c.Add(k1, awscalls.Stat{Calls: 2, Attempts: 2, Nanos: 10})
	before := c.Snapshot()
	c.Add(k1, awscalls.Stat{Calls: 3, Attempts: 3, Nanos: 5})
	c.Add(k2, awscalls.Stat{Calls: 1, Attempts: 1, Usage: awscalls.Usage{Records: 1, NonEmpty: 1}})
	d := c.Snapshot().Sub(before)
	if st := find(t, d, k1); st.Calls != 3 || st.Nanos != 5 {
		t.Errorf("sub: %+v", st)
	}
	if st := find(t, d, k2); st.Calls != 1 || st.Records != 1 {
		t.Errorf("sub: %+v", st)
	}
	m := awscalls.Merge(d, d)
	if st := find(t, m, k1); st.Calls != 6 {
		t.Errorf("merge: %+v", st)
	}
	phased := m.Map(func(k awscalls.Key) awscalls.Key { k.Phase = "claim"; return k })
	if st := phased.Total(func(k awscalls.Key) bool { return k.Phase == "claim" }); st.Calls != 8 {
		t.Errorf("map: %+v", st)
	}
}
