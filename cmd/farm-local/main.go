// Command farm-local runs the whole farm on this machine against an AWS
// emulator: moto_server on 127.0.0.1:4566 (started if nothing answers
// there) or whatever AWS_ENDPOINT_URL names (LocalStack). It provisions the
// topology, serves the API on FARM_ADDR (default 127.0.0.1:8080), runs the
// Lambdas' handlers in process, starts FARM_BUILDERS local builder agents for
// the default pool (default 1, so that a first job runs; 0 starts none), and
// prints the admin token (FARM_ADMIN_TOKEN, or a new one) and the web page.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// DefaultBuilders is how many local builders start without FARM_BUILDERS:
// one, so that the first job a newcomer submits runs.
const DefaultBuilders = 1

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "farm-local:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("FARM_ADDR", "127.0.0.1:8080"), "API listen address (FARM_ADDR)")
	builders := flag.Int("builders", envInt("FARM_BUILDERS", DefaultBuilders), "local builder agents for the default pool (FARM_BUILDERS; 0: none)")
	emulatorAddr := flag.String("emulator", envOr("FARM_EMULATOR_ADDR", "127.0.0.1:4566"), "where to find or start moto_server when AWS_ENDPOINT_URL is unset")
	reaper := flag.Duration("reaper-interval", 0, "reaper tick (default: a third of the lease)")
	logLevel := flag.String("log-level", envOr("FARM_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	logger := slog.New(httpapi.ContextHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	slog.SetDefault(logger)
	cfg, err := wiring.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lf, err := wiring.StartLocal(ctx, wiring.LocalConfig{
		Addr:           *addr,
		AdminToken:     os.Getenv("FARM_ADMIN_TOKEN"),
		EmulatorAddr:   *emulatorAddr,
		Farm:           cfg,
		ReaperInterval: *reaper,
		Builders:       *builders,
		JobUser:        os.Getenv("FARM_JOB_USER"),
		Logger:         logger,
	})
	if err != nil {
		return err
	}
	fmt.Printf("buildfarm is up\n  API:         %s\n  web page:    %s/ui/ (sign in with the admin token, or open %s/ui/#token=<token>)\n  admin token: %s\n  emulator:    %s\n  pools:       %v\n  builders:    %d\n",
		lf.URL, lf.URL, lf.URL, lf.AdminToken, aws.ToString(lf.AWS.BaseEndpoint), cfg.Topology.Pools, *builders)
	fmt.Printf("try:\n  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"type\":\"script\",\"payload\":{\"script\":\"echo hello\"}}' %s/v1/jobs\n", lf.AdminToken, lf.URL)
	<-ctx.Done()
	fmt.Println("buildfarm: stopping")
	done := make(chan struct{})
	go func() { lf.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("did not stop within 30 s")
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "farm-local: %s=%q is not a number; using %d\n", key, v, def)
	}
	return def
}
