// Command farm-builder is the buildfarm builder agent: one static binary
// that registers a machine (EC2 instance or bare metal) with the farm, waits
// for its pools' SQS doorbells, claims jobs through the HTTP API and runs
// them. The first SIGTERM or SIGINT drains it (running jobs finish and are
// completed, nothing new is claimed, exit 0); a second stops it hard (job
// process groups are killed, exit 1).
//
// Configuration is by flags or FARM_* environment variables (flags win); see
// farm-builder -h and docs/builder.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/adapter/awsconf"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	opts, err := parseOptions(args, os.Getenv, defaultDiscovery, os.Stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "farm-builder:", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: opts.logLevel}))
	for _, w := range opts.warnings {
		logger.Warn("WARNING: " + w)
	}
	// How jobs are kept from the agent: as root, the job user (created when
	// missing), namespaces and a cgroup; the token file is masked besides.
	var hide []string
	if opts.tokenFile != "" {
		hide = append(hide, opts.tokenFile)
	}
	iso, warnings, err := executor.DetectIsolation(executor.IsolationConfig{JobUser: opts.jobUser, CreateUser: true, Hide: hide})
	if err != nil {
		fmt.Fprintln(os.Stderr, "farm-builder:", err)
		return 2
	}
	for _, w := range warnings {
		logger.Warn("WARNING: job isolation: " + w)
	}
	opts.isolation = iso
	if err := serve(opts, logger); err != nil {
		logger.Error("farm-builder stopped", "builder", opts.agent.Name, "err", err)
		return 1
	}
	return 0
}

func serve(opts *options, logger *slog.Logger) error {
	var execCfg executor.Config
	if opts.executorsFile != "" {
		var err error
		if execCfg, err = executor.LoadConfig(opts.executorsFile); err != nil {
			return err
		}
	}
	// Opt-in for the benchmark (scripts/bench): FARM_AWS_CALLS_FILE names a
	// file that receives this process's AWS calls, counted by API, when it
	// exits. Unset, calls is nil and counts nothing.
	calls, writeCalls := awscalls.FromEnv(os.Getenv)
	defer func() {
		if err := writeCalls(); err != nil {
			logger.Warn("AWS call counts not written", "err", err)
		}
	}()
	clientOpts := []client.Option{client.WithUserAgent("farm-builder/" + opts.agent.Name)}
	if calls != nil {
		clientOpts = append(clientOpts, client.WithHTTPClient(&http.Client{Timeout: 60 * time.Second, Transport: calls.Transport(nil, "")}))
	}
	credsCtx, stopCreds := context.WithCancel(context.Background())
	defer stopCreds()
	api, err := apiClient(credsCtx, opts, logger, clientOpts...)
	if err != nil {
		return err
	}
	watchSpot(opts)
	// The SDK's standard configuration: AWS_ENDPOINT_URL points it at an
	// emulator locally; on EC2 the instance role signs the doorbell calls.
	var awsOpts []func(*config.LoadOptions) error
	if opts.ec2 != nil && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		awsOpts = append(awsOpts, config.WithRegion(opts.ec2.Region))
	}
	awsCfg, err := awsconf.Load(context.Background(), awsOpts...)
	if err != nil {
		return fmt.Errorf("aws configuration: %w", err)
	}
	calls.Attach(&awsCfg)
	if awsCfg.Region == "" {
		logger.Warn("no AWS region (set AWS_REGION): doorbells cannot be received; the builder claims every --idle-claim instead")
	}

	cfg := opts.agent
	cfg.Logger = logger
	cfg.Executors = executor.NewSet(execCfg, executor.Options{
		KillGrace: opts.killGrace,
		BaseEnv:   executor.BuilderEnv(opts.jobEnv...),
		Isolation: opts.isolation,
	})
	a, err := agent.New(cfg, api, sqsdoorbell.NewReceiver(sqs.NewFromConfig(awsCfg)))
	if err != nil {
		return err
	}

	ctx, stopHard := context.WithCancel(context.Background())
	defer stopHard()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	go func() {
		select {
		case s := <-signals:
			logger.Info("signal: draining; send another to stop hard", "builder", cfg.Name, "signal", s.String())
			a.Drain()
		case <-ctx.Done():
			return
		}
		select {
		case s := <-signals:
			logger.Warn("second signal: stopping hard", "builder", cfg.Name, "signal", s.String())
			stopHard()
		case <-ctx.Done():
		}
	}()
	logger.Info("farm-builder starting", "builder", cfg.Name, "api", api.BaseURL(), "kind", cfg.Spec.Kind,
		"arch", cfg.Spec.Arch, "pools", cfg.Spec.Pools, "slots", cfg.Spec.Slots, "executors", opts.executorsFile,
		"isolation", opts.isolation.String())
	return a.Run(ctx)
}
