// Package localfarm runs, in one process, what AWS runs around the farm's
// handlers: it serves the HTTP API, feeds the jobs table's stream to the
// dispatcher, polls the ingest queue into its handler
// as SQS event source mappings would, and ticks the reaper as its
// EventBridge schedule would. wiring.StartLocal assembles a whole local
// farm (emulator, provisioning, the handlers, builder agents) around it.
package localfarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
	"github.com/buildfarm/buildfarm/shared/app/store"
)

// Config is what a Runner runs.
type Config struct {
	// Addr is where the API listens (127.0.0.1:0 picks a port).
	Addr string
	// API is the HTTP API handler.
	API http.Handler

	// Streams reads the jobs table's stream, JobsStreamARN, into Dispatch
	// (runtime/dispatch.Dispatcher.Apply).
	Streams       *dynamodbstreams.Client
	JobsStreamARN string
	Dispatch      func(ctx context.Context, changes []store.JobChange) []string
	// StreamInterval is how often the jobs stream is read (default 200 ms).
	StreamInterval time.Duration

	// SQS polls IngestQueueURL into Ingest (runtime/ingest.Handler).
	SQS            *sqs.Client
	IngestQueueURL string
	Ingest         func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse

	// Reap runs a reaper pass (runtime/reaperfn.Reaper.Tick) every ReaperInterval.
	Reap           func(ctx context.Context) (*reaper.Report, error)
	ReaperInterval time.Duration

	Logger *slog.Logger
}

// Runner is a running local farm runtime.
type Runner struct {
	// URL is where the API answers (http://host:port).
	URL string

	server *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start listens, serves the API and starts the pollers and the reaper's
// ticker; they run until Stop.
func Start(cfg Config) (*Runner, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.API == nil || cfg.Dispatch == nil || cfg.Ingest == nil || cfg.Reap == nil || cfg.ReaperInterval <= 0 {
		return nil, errors.New("localfarm: API, Dispatch, Ingest, Reap and ReaperInterval are required")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("localfarm: listen on %s: %w", cfg.Addr, err)
	}
	r := &Runner{URL: "http://" + ln.Addr().String(), server: &http.Server{Handler: cfg.API, ReadHeaderTimeout: 10 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.goRun(func() {
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	})
	streams := &streamPoller{
		api: cfg.Streams, streamARN: cfg.JobsStreamARN, filter: dynamostore.DispatchFilter.MustCompile(), apply: cfg.Dispatch,
		interval: orDefault(cfg.StreamInterval, 200*time.Millisecond), log: log.With("component", "stream"),
	}
	r.goRun(func() { streams.run(ctx) })
	ingest := &sqsPoller{api: cfg.SQS, url: cfg.IngestQueueURL, handler: cfg.Ingest, log: log.With("component", "ingest")}
	r.goRun(func() { ingest.run(ctx) })
	r.goRun(func() {
		t := time.NewTicker(cfg.ReaperInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = cfg.Reap(ctx)
			}
		}
	})
	return r, nil
}

func (r *Runner) goRun(fn func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Stop shuts the runtime down: the API first (in-flight requests finish),
// then the pollers and the ticker.
func (r *Runner) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.server.Shutdown(ctx)
	r.cancel()
	r.wg.Wait()
}
