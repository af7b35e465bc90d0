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
	"os"
	"os/signal"
	"syscall"

	"github.com/buildfarm/buildfarm/shared/runtime/executor"
	"github.com/buildfarm/buildfarm/shared/wiring/builder"
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
	credsCtx, stopCreds := context.WithCancel(context.Background())
	defer stopCreds()
	bc := builder.Config{
		Agent: opts.agent, API: opts.api, Token: opts.token, Identity: opts.identity, NonceFile: opts.nonceFile,
		Executors: execCfg, KillGrace: opts.killGrace, JobEnv: opts.jobEnv, Isolation: opts.isolation, Logger: logger,
	}
	if opts.ec2 != nil {
		bc.Region, bc.SpotNotices = opts.ec2.Region, true
	}
	a, err := builder.New(credsCtx, bc)
	if err != nil {
		return err
	}
	cfg := opts.agent

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
	logger.Info("farm-builder starting", "builder", cfg.Name, "api", opts.api, "kind", cfg.Spec.Kind,
		"arch", cfg.Spec.Arch, "pools", cfg.Spec.Pools, "slots", cfg.Spec.Slots, "executors", opts.executorsFile,
		"isolation", opts.isolation.String())
	return a.Run(ctx)
}
