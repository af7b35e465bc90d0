package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/buildfarm/buildfarm/shared/agent"
	"github.com/buildfarm/buildfarm/shared/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// startBuilders runs n builder agents for the default pool in this process,
// each with its own builder token, woken by the emulator's doorbell queues.
func startBuilders(logger *slog.Logger) func(ctx context.Context, f *wiring.Farm, url, adminToken string, n int) error {
	return func(ctx context.Context, f *wiring.Farm, url, adminToken string, n int) error {
		dir, err := os.MkdirTemp("", "buildfarm-builders-")
		if err != nil {
			return err
		}
		lb := &agent.LocalBuilders{Doorbells: sqsdoorbell.NewReceiver(f.SQS), WorkDir: dir, Logger: logger.With("component", "builder")}
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
