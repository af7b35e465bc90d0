package wiring

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/localfarm"
)

// LocalConfig configures a local farm.
type LocalConfig struct {
	// Addr is where the API listens (127.0.0.1:0 picks a port).
	Addr string
	// AdminToken is the bootstrap admin token; generated when empty.
	AdminToken string
	// EmulatorAddr is where moto_server is started when AWS_ENDPOINT_URL is
	// unset and nothing answers there (default 127.0.0.1:4566).
	EmulatorAddr string
	// AWS, when set, is used as is (tests, the bench); otherwise the
	// emulator is ensured.
	AWS *aws.Config
	// Farm is the farm's own configuration (topology, policy).
	Farm Config
	// ReaperInterval is how often the reaper runs (default: a third of the lease).
	ReaperInterval time.Duration
	// StreamInterval is how often the jobs stream is read (default 200 ms).
	StreamInterval time.Duration
	// WrapAPI, when set, wraps the API handler (an observer of the bench or
	// of a fault scenario).
	WrapAPI func(http.Handler) http.Handler
	// Builders is how many builder agents to run in this process for the
	// default pool, each with its own builder token.
	Builders int
	// BuilderSlots is each local builder's slots (default 1).
	BuilderSlots int
	// BuilderWorkDir holds the local builders' work directories (default: a
	// temporary directory, removed when they stop).
	BuilderWorkDir string
	// JobUser is the user local builders run jobs as when this process is
	// root (default farm-job, created when missing).
	JobUser string
	Logger  *slog.Logger
	// EmulatorLogs receives the output of a moto_server this process starts.
	EmulatorLogs io.Writer
}

// Local is a running local farm: the whole farm in one process against an
// AWS emulator.
type Local struct {
	*Farm
	URL        string
	AdminToken string

	emu      *emulator.Emulator
	runner   *localfarm.Runner
	builders *agent.LocalBuilders
	stop     context.CancelFunc
	stopAuth context.CancelFunc // the auth generation refresher
	authDone chan struct{}
	workDir  string // removed at Stop
}

// StartLocal brings a local farm up: it ensures the emulator, provisions the
// topology from the same definition CDK uses, assembles the farm, runs the
// Lambdas' handlers in process (localfarm) and the local builders, and
// returns once the API answers.
func StartLocal(ctx context.Context, cfg LocalConfig) (*Local, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Local{AdminToken: cfg.AdminToken}
	if l.AdminToken == "" {
		l.AdminToken = "bf_admin_" + farm.NewSecret(20)
	}
	awsCfg, err := l.awsConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res, err := provision.Apply(ctx, awsCfg, cfg.Farm.Topology)
	if err != nil {
		l.emu.Stop()
		return nil, err
	}
	if l.Farm, err = New(ctx, cfg.Farm, awsCfg, log); err != nil {
		l.emu.Stop()
		return nil, err
	}
	authCtx, stopAuth := context.WithCancel(context.Background())
	l.stopAuth, l.authDone = stopAuth, make(chan struct{})
	go func() {
		defer close(l.authDone)
		l.RunAuthRefresh(authCtx)
	}()
	if l.runner, err = l.startRuntime(cfg, res, log); err != nil {
		l.stopAuthRefresh()
		l.emu.Stop()
		return nil, err
	}
	l.URL = l.runner.URL
	if cfg.Builders > 0 {
		if err := l.startBuilders(cfg, log); err != nil {
			l.Stop()
			return nil, err
		}
	}
	return l, nil
}

func (l *Local) awsConfig(ctx context.Context, cfg LocalConfig) (aws.Config, error) {
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
	l.emu = emu
	return emu.Config(ctx)
}

// startRuntime serves the API and runs the Lambdas' handlers as their
// triggers would.
func (l *Local) startRuntime(cfg LocalConfig, res *provision.Result, log *slog.Logger) (*localfarm.Runner, error) {
	api, err := l.API(l.AdminToken)
	if err != nil {
		return nil, err
	}
	var handler http.Handler = api
	if cfg.WrapAPI != nil {
		handler = cfg.WrapAPI(handler)
	}
	top := cfg.Farm.Topology
	in := l.Ingest()
	reaperFn := l.ReaperFn(nil)
	rc := localfarm.Config{
		Addr:           cfg.Addr,
		API:            handler,
		Streams:        dynamodbstreams.NewFromConfig(l.AWS),
		JobsStreamARN:  res.JobsStreamARN,
		Dispatch:       l.Dispatcher().Apply,
		StreamInterval: cfg.StreamInterval,
		SQS:            l.SQS,
		IngestQueueURL: res.QueueURLs[top.IngestQueue.Name],
		Ingest: func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
			resp, _ := in.HandleLambda(ctx, ev)
			return resp
		},
		Reap:           reaperFn.Tick,
		ReaperInterval: cfg.ReaperInterval,
		Logger:         log,
	}
	if rc.ReaperInterval <= 0 {
		rc.ReaperInterval = l.Policy.Lease / 3
	}
	return localfarm.Start(rc)
}

// startBuilders runs the local builder agents for the default pool, each
// with its own builder token, woken by the emulator's doorbell queues.
// Their jobs are isolated as farm-builder's are: as root, they run as the
// job user in namespaces of their own, where neither this process's admin
// token nor the builders' tokens can be reached.
func (l *Local) startBuilders(cfg LocalConfig, log *slog.Logger) error {
	dir := cfg.BuilderWorkDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "buildfarm-builders-")
		if err != nil {
			return err
		}
		dir, l.workDir = tmp, tmp
	}
	l.builders = &agent.LocalBuilders{
		Doorbells: sqsdoorbell.NewReceiver(l.SQS), WorkDir: dir, Slots: cfg.BuilderSlots, JobUser: cfg.JobUser,
		Logger: log.With("component", "builder"),
	}
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	return l.builders.Start(ctx, l.URL, l.AdminToken, cfg.Builders)
}

// stopAuthRefresh ends the auth generation refresher and waits for it.
func (l *Local) stopAuthRefresh() {
	if l.stopAuth != nil {
		l.stopAuth()
		<-l.authDone
	}
}

// Stop shuts the farm down: the local builders (hard: their jobs die with
// them), the API (in-flight requests finish), the handlers, the auth
// generation refresher, then a moto_server this process started.
func (l *Local) Stop() {
	if l.stop != nil {
		l.stop()
		l.builders.Wait()
	}
	if l.runner != nil {
		l.runner.Stop()
	}
	l.stopAuthRefresh()
	if l.workDir != "" {
		if err := os.RemoveAll(l.workDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.Logger.Warn("local builders' work directory not removed", "dir", l.workDir, "err", err)
		}
	}
	l.emu.Stop()
}
