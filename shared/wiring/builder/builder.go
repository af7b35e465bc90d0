// Package builder builds a builder agent (cmd/farm-builder) from its
// configuration: the agent, its farm client and its doorbells. It is apart
// from the farm's composition root (package wiring) so that the builder's
// binary links no part of the farm — it is also what every job's namespace
// init starts from (/proc/self/exe), where each linked package's
// initialisation is paid per job.
package builder

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// Config is what a builder agent is built from (cmd/farm-builder
// reads it from its flags and FARM_* variables).
type Config struct {
	// Agent is the agent's own configuration: name, registration, work
	// directory, timings, fleet behaviour.
	Agent agent.Config
	// API is the farm's base URL; Token the builder token (none with Identity).
	API, Token string
	// Identity: the token comes from the EC2 instance's signed identity
	// document (an instance of the farm's fleet), fetched at start and
	// renewed in the background; NonceFile keeps the instance's nonce.
	Identity  bool
	NonceFile string
	// Region is the AWS region when the environment names none (an EC2
	// instance's own).
	Region string
	// SpotNotices: watch the instance's spot interruption notices (on EC2).
	SpotNotices bool
	// Executors, KillGrace, JobEnv and Isolation say how jobs are run.
	Executors executor.Config
	KillGrace time.Duration
	JobEnv    []string
	Isolation *executor.Isolation
	Logger    *slog.Logger
}

// New builds a builder agent: its API client, its doorbells on SQS
// (the SDK's standard configuration: AWS_ENDPOINT_URL points it at an
// emulator locally; on EC2 the instance role signs the calls) and its
// executors. ctx bounds the background renewal of an identity token.
func New(ctx context.Context, c Config) (*agent.Agent, error) {
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	api, err := builderClient(ctx, c, logger)
	if err != nil {
		return nil, err
	}
	if c.SpotNotices && c.Agent.Fleet.Interruptions == nil {
		c.Agent.Fleet.Interruptions = agent.NewSpotNotices("")
	}
	var awsOpts []func(*config.LoadOptions) error
	if c.Region != "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		awsOpts = append(awsOpts, config.WithRegion(c.Region))
	}
	awsCfg, err := awsconf.Load(ctx, awsOpts...)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	if awsCfg.Region == "" {
		logger.Warn("no AWS region (set AWS_REGION): doorbells cannot be received; the builder claims every --idle-claim instead")
	}
	cfg := c.Agent
	cfg.Logger = logger
	cfg.Executors = executor.NewSet(c.Executors, executor.Options{
		KillGrace: c.KillGrace,
		BaseEnv:   executor.BuilderEnv(c.JobEnv...),
		Isolation: c.Isolation,
	})
	return agent.New(cfg, api, sqsdoorbell.NewReceiver(sqs.NewFromConfig(awsCfg)))
}

// builderClient is the farm's client: with a fixed token, or (Identity)
// with the instance's own token, fetched now and renewed in the background
// until ctx ends.
func builderClient(ctx context.Context, c Config, logger *slog.Logger) (*client.Client, error) {
	opts := []client.Option{client.WithUserAgent("farm-builder/" + c.Agent.Name)}
	if !c.Identity {
		return client.New(c.API, c.Token, opts...)
	}
	anon, err := client.New(c.API, "", opts...)
	if err != nil {
		return nil, err
	}
	holder := &client.TokenHolder{}
	creds := &agent.InstanceCredentials{API: anon, Tokens: holder, NonceFile: c.NonceFile, Logger: logger}
	expires, err := creds.Fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("--ec2-identity: %w", err)
	}
	logger.Info("builder token from the instance identity", "builder", c.Agent.Name, "expires_at", expires)
	go creds.Keep(ctx, expires)
	return client.New(c.API, "", append(opts, client.WithTokenSource(holder))...)
}
