package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// LocalBuilders runs builder agents inside another process: the local farm
// (scripts/up with FARM_BUILDERS=N) uses its Start as its BuildersFunc.
type LocalBuilders struct {
	// Doorbells is shared by the agents (an sqsdoorbell.Receiver on the emulator).
	Doorbells Doorbells
	// NamePrefix names the agents <prefix>-1 ... <prefix>-n (default "local").
	NamePrefix string
	// Pools, Slots: what each agent serves (default: the default pool, 1 slot).
	Pools []string
	Slots int
	// WorkDir holds one directory per agent (default: $TMPDIR/farm-builder).
	WorkDir string
	// Executors runs the jobs (default: script and clean-resource only,
	// isolated as DetectIsolation finds best: as root, as JobUser).
	Executors Executor
	// JobUser is the user jobs run as when this process is root (default
	// farm-job); it is created when missing.
	JobUser string
	Logger  *slog.Logger

	wg sync.WaitGroup
}

// Start makes a builder token for each of n agents with the admin token and
// runs them against the farm at url until ctx ends (a hard stop). It returns
// once they are started.
func (l *LocalBuilders) Start(ctx context.Context, url, adminToken string, n int) error {
	admin, err := client.New(url, adminToken)
	if err != nil {
		return err
	}
	executors, err := l.executors()
	if err != nil {
		return err
	}
	prefix := l.NamePrefix
	if prefix == "" {
		prefix = "local"
	}
	pools := l.Pools
	if len(pools) == 0 {
		pools = []string{farm.DefaultPool}
	}
	var agents []*Agent
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		tok, err := admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleBuilder), Builder: name, Name: name})
		if err != nil {
			return fmt.Errorf("local builder %s: token: %w", name, err)
		}
		api, err := client.New(url, tok.Token, client.WithUserAgent("farm-builder/"+name))
		if err != nil {
			return err
		}
		cfg := Config{
			Name:      name,
			Spec:      farm.BuilderSpec{Kind: farm.KindMetal, Arch: runtime.GOARCH, Pools: pools, Slots: l.Slots, Metadata: map[string]string{"local": "true"}},
			Executors: executors,
			Logger:    l.Logger,
		}
		if l.WorkDir != "" {
			cfg.WorkDir = filepath.Join(l.WorkDir, name)
		}
		a, err := New(cfg, api, l.Doorbells)
		if err != nil {
			return err
		}
		agents = append(agents, a)
	}
	for _, a := range agents {
		l.wg.Go(func() {
			if err := a.Run(ctx); err != nil && !errors.Is(err, ErrHardStop) {
				a.log.Error("local builder stopped", "err", err)
			}
		})
	}
	return nil
}

// executors are l.Executors, or the built-ins isolated as well as this
// process can (the job user is created when missing), with loud warnings
// about what is missing.
func (l *LocalBuilders) executors() (Executor, error) {
	if l.Executors != nil {
		return l.Executors, nil
	}
	iso, warnings, err := executor.DetectIsolation(executor.IsolationConfig{JobUser: l.JobUser, CreateUser: true})
	if err != nil {
		return nil, fmt.Errorf("local builders: %w", err)
	}
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	for _, w := range warnings {
		logger.Warn("job isolation: " + w)
	}
	logger.Info("local builders isolate their jobs", "isolation", iso.String())
	return executor.NewSet(nil, executor.Options{Isolation: iso}), nil
}

// Wait returns when every started agent has stopped.
func (l *LocalBuilders) Wait() { l.wg.Wait() }
