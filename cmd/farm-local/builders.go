package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// startBuilders runs n builder agents for the default pool in this process,
// each with its own builder token, woken by the emulator's doorbell queues.
// Their jobs are isolated as farm-builder's are: as root, they run as
// FARM_JOB_USER (default farm-job, created when missing) in namespaces of
// their own, where neither this process's admin token nor the builders'
// tokens can be reached.
func startBuilders(logger *slog.Logger) func(ctx context.Context, f *wiring.Farm, url, adminToken string, n int) error {
	return func(ctx context.Context, f *wiring.Farm, url, adminToken string, n int) error {
		dir, err := os.MkdirTemp("", "buildfarm-builders-")
		if err != nil {
			return err
		}
		lb := &agent.LocalBuilders{
			Doorbells: sqsdoorbell.NewReceiver(f.SQS), WorkDir: dir, Logger: logger.With("component", "builder"),
			JobUser: os.Getenv("FARM_JOB_USER"),
		}
		if err := lb.Start(ctx, url, adminToken, n); err != nil {
			return err
		}
		go func() {
			lb.Wait()
			os.RemoveAll(dir)
		}()
		return nil
	}
}
