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

	"github.com/buildfarm/buildfarm/shared/awsconf"
	"github.com/buildfarm/buildfarm/shared/dynamostore"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/scheduler"
	"github.com/buildfarm/buildfarm/shared/sqsdoorbell"
)

// Farm is an assembled farm: clients, store, doorbells and scheduler.
type Farm struct {
	Config    Config
	AWS       aws.Config
	DynamoDB  *dynamodb.Client
	SQS       *sqs.Client
	S3        *s3.Client
	Store     *dynamostore.Store
	Bell      *sqsdoorbell.Bell
	Timer     *sqsdoorbell.LeaseTimer // nil without lease timers
	Scheduler *scheduler.Scheduler
	Logger    *slog.Logger
}

// New assembles a farm. It resolves the pools' queue URLs (one call each).
func New(ctx context.Context, cfg Config, awsCfg aws.Config, logger *slog.Logger) (*Farm, error) {
	f := &Farm{
		Config:   cfg,
		AWS:      awsCfg,
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		S3:       awsconf.NewS3(awsCfg),
		Logger:   logger,
	}
	f.Store = dynamostore.New(f.DynamoDB, cfg.Topology)
	bell, err := sqsdoorbell.Resolve(ctx, f.SQS, cfg.Topology)
	if err != nil {
		return nil, err
	}
	f.Bell = bell
	opts := scheduler.Options{Store: f.Store, Doorbell: bell, Pools: cfg.Topology.Pools, Config: cfg.Scheduler, Logger: logger, Metrics: cfg.Metrics,
		Sources: farm.SourcePolicy{Bucket: cfg.BucketName(), Prefix: cfg.Topology.Bucket.IncomingPrefix}}
	if cfg.LeaseTimers {
		url := cfg.LeaseTimerQueueURL
		if url == "" {
			out, err := f.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(cfg.Topology.LeaseTimerQueue.Name)})
			if err != nil {
				return nil, fmt.Errorf("wiring: lease timer queue: %w", err)
			}
			url = aws.ToString(out.QueueUrl)
		}
		f.Timer = sqsdoorbell.NewLeaseTimer(f.SQS, url)
		opts.LeaseTimer = f.Timer
	}
	f.Scheduler = scheduler.New(opts)
	return f, nil
}

// FromEnv assembles the farm a Lambda runs: configuration from the
// environment, SDK configuration from the standard AWS variables.
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
