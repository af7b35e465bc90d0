// Package awsconf loads the AWS SDK configuration the same way for every
// program: from the standard environment (AWS_ENDPOINT_URL, credentials,
// region), with the farm's one retry policy. Nothing here knows whether the
// endpoint is AWS, moto or LocalStack.
package awsconf

import (
	"context"
	"math/rand/v2"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The retry policy of every AWS call the farm makes (Lambdas, the local
// runtime, builder agents, provisioning). It is the SDK's standard retryer
// — retryable are connection errors, 500/502/503/504, and the throttling
// codes (ProvisionedThroughputExceededException, ThrottlingException,
// RequestThrottled, SlowDown, ...) — tuned:
//
//   - MaxAttempts attempts in all (the SDK's default is 3);
//   - before retry n (1, 2, ...) a "full jitter" wait drawn uniformly from
//     [0, min(MaxBackoff, base·2^n)), base = BaseDelay for errors and
//     ThrottleBaseDelay for throttling: at most 0.1, 0.2, 0.4, 0.8 s after
//     errors (1.5 s in all) and 0.5, 1, 2, 2 s after throttling (5.5 s);
//   - the waits are taken with the call's context: its deadline or
//     cancellation ends the wait at once and the call fails with it;
//   - the SDK's retry quota (a token bucket of 500 per client: a retry costs
//     5, a success gives 1 back) is kept: when a dependency is down it stops
//     retries from piling onto it, and the callers answer "unavailable".
//
// No code of the farm loops over AWS calls on its own for these errors.
const (
	MaxAttempts       = 5
	BaseDelay         = 50 * time.Millisecond
	ThrottleBaseDelay = 250 * time.Millisecond
	MaxBackoff        = 2 * time.Second
)

// NewRetryer returns the farm's retryer (see MaxAttempts).
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.Backoff = fullJitter{throttle: retry.IsErrorThrottles(o.Throttles)}
	})
}

// fullJitter is the backoff of NewRetryer.
type fullJitter struct {
	throttle retry.IsErrorThrottle
}

// BackoffDelay returns the wait before retry attempt (1 for the first).
func (j fullJitter) BackoffDelay(attempt int, err error) (time.Duration, error) {
	ceiling := RetryCeiling(attempt, j.throttle.IsErrorThrottle(err) == aws.TrueTernary)
	return time.Duration(rand.Float64() * float64(ceiling)), nil
}

// RetryCeiling is the longest wait before retry attempt (1 for the first).
func RetryCeiling(attempt int, throttled bool) time.Duration {
	base := BaseDelay
	if throttled {
		base = ThrottleBaseDelay
	}
	d := base
	for i := 0; i < max(attempt, 1) && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// Load returns the SDK config from the environment, with the farm's retryer.
// Options given are applied after it (a test may still replace the retryer).
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	all := append([]func(*config.LoadOptions) error{config.WithRetryer(NewRetryer)}, opts...)
	return config.LoadDefaultConfig(ctx, all...)
}

// NewS3 returns an S3 client. With a custom endpoint (an emulator) buckets are
// addressed by path, since emulators on loopback cannot serve bucket subdomains.
func NewS3(cfg aws.Config) *s3.Client {
	custom := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || cfg.BaseEndpoint != nil
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if custom {
			o.UsePathStyle = true
		}
		// An endpoint set on cfg after loading (a presigner naming another
		// address than the one loaded) wins over the loaded configuration's,
		// which the S3 client would otherwise take again.
		if cfg.BaseEndpoint != nil {
			o.BaseEndpoint = cfg.BaseEndpoint
		}
	})
}
