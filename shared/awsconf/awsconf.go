// Package awsconf loads the AWS SDK configuration the same way for every
// program: from the standard environment (AWS_ENDPOINT_URL, credentials,
// region). Nothing here knows whether the endpoint is AWS, moto or LocalStack.
package awsconf

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Load returns the SDK config from the environment.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, opts...)
}

// NewS3 returns an S3 client. With a custom endpoint (an emulator) buckets are
// addressed by path, since emulators on loopback cannot serve bucket subdomains.
func NewS3(cfg aws.Config) *s3.Client {
	custom := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || cfg.BaseEndpoint != nil
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if custom {
			o.UsePathStyle = true
		}
	})
}
