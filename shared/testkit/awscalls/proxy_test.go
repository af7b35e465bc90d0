package awscalls_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// The proxy counts another client's SQS calls (receives that delivered
// apart from empty ones, SDK retries as attempts) and presigned requests,
// and passes header-signed S3 calls uncounted.
func TestProxyCountsWhatPassesThrough(t *testing.T) {
	var requests, failOnce atomic.Int64
	failOnce.Store(1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests.Add(1)
		switch target := r.Header.Get("X-Amz-Target"); {
		case target == "AmazonSQS.ReceiveMessage" && strings.Contains(string(body), "full"):
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{"Messages":[{"MessageId":"m1","ReceiptHandle":"r1","Body":"{}"},{"MessageId":"m2","ReceiptHandle":"r2","Body":"{}"}]}`))
		case target == "AmazonSQS.DeleteMessage" && failOnce.CompareAndSwap(1, 0):
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"__type":"InternalError","message":"try again"}`))
		case strings.HasPrefix(target, "AmazonSQS."):
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{}`))
		default: // S3
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer upstream.Close()
	c := awscalls.New()
	p, err := awscalls.NewProxy(upstream.URL, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	ctx := context.Background()
	cfg := config(p.URL)
	q := sqs.NewFromConfig(cfg)
	for _, queue := range []string{"empty", "full"} {
		if _, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.URL + "/123456789012/" + queue)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(p.URL + "/123456789012/full"), ReceiptHandle: aws.String("r1")}); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	pre, err := s3.NewPresignClient(s3c).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("up")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(pre.Method, pre.URL, strings.NewReader("data"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	calls := c.Snapshot()
	if st := find(t, calls, awscalls.Key{Service: "SQS", Operation: "ReceiveMessage", Resource: "full"}); st.Calls != 1 || st.Records != 2 || st.NonEmpty != 1 {
		t.Errorf("full receive %+v", st)
	}
	if st := find(t, calls, awscalls.Key{Service: "SQS", Operation: "ReceiveMessage", Resource: "empty"}); st.Calls != 1 || st.NonEmpty != 0 {
		t.Errorf("empty receive %+v", st)
	}
	if st := find(t, calls, awscalls.Key{Service: "SQS", Operation: "DeleteMessage", Resource: "full"}); st.Calls != 1 || st.Attempts != 2 || st.Errors != 1 {
		t.Errorf("retried delete %+v", st)
	}
	if st := find(t, calls, awscalls.Key{Service: "S3", Operation: "PresignedPUT"}); st.Calls != 1 {
		t.Errorf("presigned upload %+v", st)
	}
	if total := calls.Total(func(awscalls.Key) bool { return true }); total.Attempts != 5 || requests.Load() != 6 {
		t.Errorf("%d attempts counted of %d requests (the header-signed S3 call is not counted): %+v", total.Attempts, requests.Load(), calls)
	}
}
