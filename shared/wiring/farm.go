package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/adapter/s3blobs"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Farm is an assembled farm: its AWS clients and adapters, and the
// services over them.
type Farm struct {
	*Services
	Config   Config
	AWS      aws.Config
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	S3       *s3.Client
	Store    *dynamostore.Store
	Bell     *sqsdoorbell.Bell
	Blobs    *s3blobs.Store
}

// New assembles a farm. It resolves the pools' queue URLs (one call each).
func New(ctx context.Context, cfg Config, awsCfg aws.Config, logger *slog.Logger) (*Farm, error) {
	if logger == nil {
		logger = slog.Default()
	}
	f := &Farm{
		Config:   cfg,
		AWS:      awsCfg,
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		S3:       awsconf.NewS3(awsCfg),
	}
	shards, err := cfg.dispatchShards()
	if err != nil {
		return nil, err
	}
	f.Store = dynamostore.New(f.DynamoDB, cfg.Topology).WithDispatchShards(shards)
	presigner := f.S3
	if cfg.PresignEndpoint != "" {
		pc := awsCfg.Copy()
		pc.BaseEndpoint = aws.String(cfg.PresignEndpoint)
		presigner = awsconf.NewS3(pc)
	}
	f.Blobs = s3blobs.NewPresigning(f.S3, presigner, cfg.BucketName())
	bell, err := sqsdoorbell.Resolve(ctx, f.SQS, cfg.Topology)
	if err != nil {
		return nil, err
	}
	f.Bell = bell
	deps := Deps{Store: f.Store, Doorbell: bell, Queues: bell, Blobs: f.Blobs, Pools: cfg.Topology.Pools, Policy: cfg.Policy, Logger: logger,
		Sources: farm.SourcePolicy{Bucket: cfg.BucketName(), Prefix: cfg.Topology.Bucket.IncomingPrefix}}
	if cfg.Metrics != nil {
		deps.Metrics = cfg.Metrics
	}
	f.Services = NewServices(deps)
	return f, nil
}

// API is the HTTP API of the farm, with adminToken as its bootstrap admin
// token ("" for none) and, on a farm with a fleet, the instances' tokens
// (Farm.InstanceTokens).
func (f *Farm) API(adminToken string) (*httpapi.Server, error) {
	t := f.Tokens(adminToken)
	srv, err := f.APIWith(t)
	if err != nil {
		return nil, err
	}
	issuer, err := f.InstanceTokens(t)
	if err != nil {
		return nil, err
	}
	if issuer != nil {
		srv.SetInstanceTokens(issuer)
	}
	return srv, nil
}

// FromEnv assembles the farm a Lambda runs: configuration from the
// environment, SDK configuration from the standard AWS variables, EMF
// metrics on stdout (which Lambda sends to CloudWatch Logs).
func FromEnv(ctx context.Context, logger *slog.Logger) (*Farm, error) {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	cfg.Metrics = os.Stdout
	awsCfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, awsCfg, logger)
}

// Exit reports a start-up failure of a program and exits non-zero.
func Exit(logger *slog.Logger, program string, err error) {
	logger.Error(program+" cannot start", "err", err)
	fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
	os.Exit(1)
}
