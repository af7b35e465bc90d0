// Package localfarm is the whole farm in one process, against an AWS
// emulator: it provisions the topology, serves the HTTP API, and runs in
// process the same handlers the Lambdas run (ingest queue poller, jobs
// stream poller for the dispatcher, reaper ticks, lease timers), plus
// optional builder agents.
package localfarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
	"github.com/buildfarm/buildfarm/shared/runtime/ingest"
	"github.com/buildfarm/buildfarm/shared/runtime/reaperfn"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// HandlerFunc builds the HTTP API handler of an assembled farm.
type HandlerFunc func(f *wiring.Farm, adminToken string) (http.Handler, error)

// BuildersFunc starts n builder agents against the farm's API at url with the
// admin token (which they use to get builder tokens); they stop with ctx.
type BuildersFunc func(ctx context.Context, f *wiring.Farm, url, adminToken string, n int) error

// Config configures a local farm.
type Config struct {
	// Addr is where the API listens (127.0.0.1:0 picks a port).
	Addr string
	// AdminToken is the bootstrap admin token; generated when empty.
	AdminToken string
	// EmulatorAddr is where moto_server is started when AWS_ENDPOINT_URL is
	// unset and nothing answers there.
	EmulatorAddr string
	// AWS, when set, is used as is (tests); otherwise the emulator is ensured.
	AWS *aws.Config
	// Farm is the farm's own configuration (topology, timings).
	Farm wiring.Config
	// ReaperInterval is how often the reaper runs (default: a third of the lease).
	ReaperInterval time.Duration
	// StreamInterval is how often the jobs stream is read (default 200 ms).
	StreamInterval time.Duration
	Handler        HandlerFunc
	Builders       int
	StartBuilders  BuildersFunc
	Logger         *slog.Logger
	// EmulatorLogs receives the output of a moto_server this process starts.
	EmulatorLogs io.Writer
}

// Farm is a running local farm.
type Farm struct {
	*wiring.Farm
	URL        string
	AdminToken string

	emu    *emulator.Emulator
	server *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start brings the farm up and returns once the API answers.
func Start(ctx context.Context, cfg Config) (*Farm, error) {
	if cfg.Handler == nil {
		return nil, errors.New("localfarm: no HTTP handler")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	lf := &Farm{AdminToken: cfg.AdminToken}
	if lf.AdminToken == "" {
		lf.AdminToken = "bf_admin_" + farm.NewSecret(20)
	}
	awsCfg, err := lf.awsConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Farm, error) {
		lf.emu.Stop()
		return nil, err
	}
	res, err := provision.Apply(ctx, awsCfg, cfg.Farm.Topology)
	if err != nil {
		return fail(err)
	}
	if lf.Farm, err = wiring.New(ctx, cfg.Farm, awsCfg, log); err != nil {
		return fail(err)
	}
	handler, err := cfg.Handler(lf.Farm, lf.AdminToken)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fail(fmt.Errorf("localfarm: listen on %s: %w", cfg.Addr, err))
	}
	lf.URL = "http://" + ln.Addr().String()
	lf.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	runCtx, cancel := context.WithCancel(context.Background())
	lf.cancel = cancel
	lf.goRun(func() {
		if err := lf.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	})
	lf.startWorkers(runCtx, cfg, res, log)
	if cfg.Builders > 0 && cfg.StartBuilders != nil {
		if err := cfg.StartBuilders(runCtx, lf.Farm, lf.URL, lf.AdminToken, cfg.Builders); err != nil {
			lf.Stop()
			return nil, err
		}
	}
	return lf, nil
}

func (lf *Farm) awsConfig(ctx context.Context, cfg Config) (aws.Config, error) {
	if cfg.AWS != nil {
		return *cfg.AWS, nil
	}
	addr := cfg.EmulatorAddr
	if addr == "" {
		addr = "127.0.0.1:4566"
	}
	emu, err := emulator.EnsureAt(ctx, addr, cfg.EmulatorLogs)
	if err != nil {
		return aws.Config{}, err
	}
	lf.emu = emu
	return emu.Config(ctx)
}

func (lf *Farm) goRun(fn func()) {
	lf.wg.Add(1)
	go func() {
		defer lf.wg.Done()
		fn()
	}()
}

// startWorkers runs the Lambdas' handlers in process.
func (lf *Farm) startWorkers(ctx context.Context, cfg Config, res *provision.Result, log *slog.Logger) {
	top := cfg.Farm.Topology
	d := &dispatch.Dispatcher{Jobs: lf.Store, Work: lf.Scheduler, Logger: log.With("component", "dispatch")}
	streams := &streamPoller{
		api: dynamodbstreams.NewFromConfig(lf.AWS), streamARN: res.JobsStreamARN, apply: d.Apply,
		interval: orDefault(cfg.StreamInterval, 200*time.Millisecond), log: log.With("component", "stream"),
	}
	lf.goRun(func() { streams.run(ctx) })

	in := &ingest.Handler{Jobs: lf.Scheduler, IncomingPrefix: top.Bucket.IncomingPrefix, Logger: log.With("component", "ingest")}
	ingestPoller := &sqsPoller{api: lf.SQS, url: res.QueueURLs[top.IngestQueue.Name], handler: func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
		resp, _ := in.HandleLambda(ctx, ev)
		return resp
	}, log: log.With("component", "ingest")}
	lf.goRun(func() { ingestPoller.run(ctx) })

	r := &reaperfn.Reaper{Sched: lf.Scheduler, Logger: log.With("component", "reaper")}
	if lf.Timer != nil {
		timers := &sqsPoller{api: lf.SQS, url: res.QueueURLs[top.LeaseTimerQueue.Name], handler: r.HandleLeaseChecks, log: log.With("component", "lease-timers")}
		lf.goRun(func() { timers.run(ctx) })
	}
	every := orDefault(cfg.ReaperInterval, lf.Scheduler.Config().Lease/3)
	lf.goRun(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = r.Tick(ctx)
			}
		}
	})
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Stop shuts the farm down: the API first (in-flight requests finish), then
// the pollers, then a moto_server this process started.
func (lf *Farm) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if lf.server != nil {
		_ = lf.server.Shutdown(ctx)
	}
	if lf.cancel != nil {
		lf.cancel()
	}
	lf.wg.Wait()
	lf.emu.Stop()
}
