package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// API is the part of the farm's HTTP API a builder uses (*client.Client).
type API interface {
	RegisterBuilder(ctx context.Context, name string, spec farm.BuilderSpec) (*apiv1.BuilderRegistration, error)
	Claim(ctx context.Context, name string, req apiv1.ClaimRequest) (*apiv1.ClaimResponse, error)
	Heartbeat(ctx context.Context, name string, req apiv1.HeartbeatRequest) (*apiv1.HeartbeatResponse, error)
	CompleteJob(ctx context.Context, id string, req apiv1.CompleteRequest) (*farm.Job, error)
	ArtifactURL(ctx context.Context, id string, req apiv1.ArtifactURLRequest) (*apiv1.ArtifactURL, error)
	Upload(ctx context.Context, dst *apiv1.ArtifactURL, body io.Reader, size int64) error
}

// Doorbells receives and deletes the SQS doorbells of the builder's pools
// (*sqsdoorbell.Receiver).
type Doorbells interface {
	Receive(ctx context.Context, queueURL string, wait time.Duration, limit int) ([]sqsdoorbell.Message, error)
	Delete(ctx context.Context, m sqsdoorbell.Message) error
	// Release makes a doorbell visible again at once, for another builder.
	Release(ctx context.Context, m sqsdoorbell.Message) error
}

// Executor runs one job (*executor.Set).
type Executor interface {
	Execute(ctx context.Context, t *executor.Task) executor.Outcome
}

// Config is a builder's configuration. Name and Spec are required.
type Config struct {
	// Name is the builder's name at the farm.
	Name string
	// Spec is what the builder registers with: kind, arch, pools,
	// capabilities, slots (its concurrency) and metadata. Its boot id is
	// drawn afresh by New unless set (tests): one per agent run.
	Spec farm.BuilderSpec
	// WorkDir holds one workspace per job run (default: $TMPDIR/farm-builder).
	WorkDir string
	// KeepWorkDirs keeps workspaces and job logs after a run, for debugging.
	KeepWorkDirs bool
	// Executors runs jobs (default: executor.NewSet with no commands and
	// the default isolation: as root, jobs run as the farm-job user, which
	// is created when missing).
	Executors Executor
	// HTTPClient downloads job sources (default: a client without a total
	// timeout; the job's context bounds a download).
	HTTPClient *http.Client
	// Logger gets the agent's JSON log (default: JSON on stderr).
	Logger *slog.Logger

	// PollWait is the doorbell long poll (default and maximum 20 s).
	PollWait time.Duration
	// IdleClaimInterval is how often, on average, a pool is claimed from
	// while its doorbell stays silent: doorbells can be lost (default 60 s).
	IdleClaimInterval time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff after
	// errors (defaults 1 s and 60 s).
	BackoffMin, BackoffMax time.Duration
	// MaxLogChunk bounds the unsent log text kept per job: when a job writes
	// faster than heartbeats carry it away, the oldest is skipped and the
	// skipped size noted (default 32 KiB).
	MaxLogChunk int
	// MaxHeartbeatLog bounds the log text of one heartbeat, all jobs
	// together, so that a builder with many slots stays under the farm's
	// request size limit (default 512 KiB).
	MaxHeartbeatLog int
	// CompleteTimeout bounds the retries of a job's completion (default 10
	// min); its result stays spooled after.
	CompleteTimeout time.Duration
	// StateDir holds the agent's own state: the spool of results the farm
	// has not acknowledged yet (default: WorkDir + ".state", 0700).
	StateDir string
	// SpoolMaxEntries and SpoolMaxBytes bound the spool (defaults 256
	// results, 64 MiB); the oldest result makes room for a new one.
	SpoolMaxEntries int
	SpoolMaxBytes   int64

	// The elastic fleet's options (fleet.go).
	Fleet FleetOptions
}

// Fallbacks when the farm's registration leaves its timing out.
const (
	fallbackHeartbeat = 10 * time.Second
	fallbackLease     = 30 * time.Second
)

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Name == "" {
		return cfg, errors.New("agent: a builder name is required")
	}
	if err := farm.CheckName("name", cfg.Name); err != nil {
		return cfg, err
	}
	cfg.Spec.Pools = append([]string(nil), cfg.Spec.Pools...)
	if err := cfg.Spec.Validate(); err != nil {
		return cfg, err
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(os.TempDir(), "farm-builder")
	}
	if cfg.Executors == nil {
		set := executor.NewSet(nil, executor.Options{})
		if _, err := set.Isolation(); err != nil {
			return cfg, fmt.Errorf("agent: job isolation: %w", err)
		}
		cfg.Executors = set
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.PollWait <= 0 || cfg.PollWait > 20*time.Second {
		cfg.PollWait = 20 * time.Second
	}
	if cfg.IdleClaimInterval <= 0 {
		cfg.IdleClaimInterval = 60 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(60*time.Second, cfg.BackoffMin)
	}
	if cfg.MaxLogChunk <= 0 {
		cfg.MaxLogChunk = 32 << 10
	}
	if cfg.MaxHeartbeatLog <= 0 {
		cfg.MaxHeartbeatLog = 512 << 10
	}
	if cfg.CompleteTimeout <= 0 {
		cfg.CompleteTimeout = 10 * time.Minute
	}
	if cfg.StateDir == "" {
		// Beside the work dir, not in it: jobs' users pass through that.
		cfg.StateDir = filepath.Clean(cfg.WorkDir) + ".state"
	}
	if cfg.SpoolMaxEntries <= 0 {
		cfg.SpoolMaxEntries = 256
	}
	if cfg.SpoolMaxBytes <= 0 {
		cfg.SpoolMaxBytes = 64 << 20
	}
	if err := cfg.Fleet.check(cfg.Spec.Slots); err != nil {
		return cfg, err
	}
	return cfg, nil
}
