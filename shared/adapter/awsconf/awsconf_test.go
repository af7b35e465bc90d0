package awsconf_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
)

func TestRetryCeilings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		attempt   int
		throttled bool
		want      time.Duration
	}{
		{1, false, 100 * time.Millisecond}, {2, false, 200 * time.Millisecond}, {4, false, 800 * time.Millisecond}, {9, false, 2 * time.Second},
		{1, true, 500 * time.Millisecond}, {2, true, time.Second}, {3, true, 2 * time.Second}, {4, true, 2 * time.Second},
	} {
		if got := awsconf.RetryCeiling(c.attempt, c.throttled); got != c.want {
			t.Errorf("RetryCeiling(%d, %v) = %v, want %v", c.attempt, c.throttled, got, c.want)
		}
	}
}

// The loaded configuration carries the tuned retryer: its attempts, and
// waits within the ceilings, longer after throttling.
func TestLoadUsesTheFarmsRetryer(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	cfg, err := awsconf.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Retryer()
	if r.MaxAttempts() != awsconf.MaxAttempts {
		t.Fatalf("MaxAttempts %d, want %d", r.MaxAttempts(), awsconf.MaxAttempts)
	}
	throttle := &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}
	other := &smithy.GenericAPIError{Code: "InternalServerError"}
	if !r.IsErrorRetryable(throttle) {
		t.Fatal("a throttle is not retried")
	}
	var longest, longestThrottled time.Duration
	for range 200 {
		d, err := r.RetryDelay(1, other)
		if err != nil {
			t.Fatal(err)
		}
		longest = max(longest, d)
		d, _ = r.RetryDelay(1, throttle)
		longestThrottled = max(longestThrottled, d)
	}
	if longest >= awsconf.RetryCeiling(1, false) || longestThrottled >= awsconf.RetryCeiling(1, true) || longestThrottled <= awsconf.RetryCeiling(1, false) {
		t.Fatalf("first-retry waits up to %v (errors) and %v (throttles)", longest, longestThrottled)
	}
	var _ aws.Retryer = awsconf.NewRetryer()
}

// A client made from a loaded configuration whose endpoint was changed
// afterwards (the farm's presigner, naming where builders reach S3) uses
// the new endpoint, not the one loaded.
func TestNewS3TakesTheEndpointSetAfterLoading(t *testing.T) {
	t.Parallel()
	cfg, err := awsconf.Load(context.Background(), config.WithRegion("us-east-1"), config.WithBaseEndpoint("http://127.0.0.1:4566"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.Copy()
	pc.BaseEndpoint = aws.String("http://127.0.0.1:9999")
	req, err := s3.NewPresignClient(awsconf.NewS3(pc)).PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("logs/x.log")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.URL, "http://127.0.0.1:9999/b/logs/x.log?") {
		t.Errorf("presigned URL %s does not name the endpoint set after loading", req.URL)
	}
}
