// Package reaperfn runs the farm's reaper on a schedule and publishes the
// queue metrics the alarms watch. The reaper Lambda is invoked by an
// EventBridge schedule (at most once a minute): it runs a full pass, and
// then, while jobs run, sweeps the reap index every SweepEvery until
// shortly before its next invocation, so a lost builder's job is requeued
// soon after its lease ends (docs/reliability.md: the bound). The local
// runtime calls Tick on its own ticker.
package reaperfn

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/emf"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
)

// Reaping is the reaper's rules (app/reaper.Service).
type Reaping interface {
	Reap(ctx context.Context) (*reaper.Report, error)
	// Sweep handles the jobs due on the reap index and reports whether
	// any job still runs.
	Sweep(ctx context.Context) (rep *reaper.Report, running bool, err error)
}

// Timings of the reaper Lambda.
const (
	// SchedulePeriod is how often EventBridge invokes the reaper (its
	// shortest rate).
	SchedulePeriod = time.Minute
	// SweepEvery is how often the invocation sweeps the reap index while
	// jobs run.
	SweepEvery = 5 * time.Second
	// SweepWindow is how long after its start an invocation keeps
	// sweeping: it ends one sweep short of the next invocation, so two
	// rarely overlap (when they do, every write is conditional).
	SweepWindow = SchedulePeriod - SweepEvery
	// Timeout is the reaper Lambda's timeout: the window and a full pass.
	Timeout = SchedulePeriod + 30*time.Second
)

// Reaper runs reaper passes.
type Reaper struct {
	Rules Reaping
	// Metrics receives EMF records (stdout in Lambda); nil publishes none.
	Metrics io.Writer
	Logger  *slog.Logger
	Clock   func() time.Time
	// Window is how long HandleLambda keeps sweeping after its pass while
	// jobs run (0: it does not; wiring sets SweepWindow for the Lambda),
	// every Every (default SweepEvery).
	Window, Every time.Duration
}

// Tick runs one pass and publishes per-pool queue metrics.
func (r *Reaper) Tick(ctx context.Context) (*reaper.Report, error) {
	rep, err := r.Rules.Reap(ctx)
	if err != nil && ctx.Err() == nil {
		r.Logger.ErrorContext(ctx, "reaper pass had errors; the next pass retries", "err", err)
	}
	if rep == nil {
		return nil, err
	}
	if rep.LeasesExpired+rep.TimedOut+rep.BuildersLost+rep.ResourcesExpired > 0 || len(rep.PoolsRung) > 0 {
		r.Logger.InfoContext(ctx, "reaper pass", "leases_expired", rep.LeasesExpired, "timed_out", rep.TimedOut, "builders_lost", rep.BuildersLost,
			"builders_disabled", rep.BuildersDisabled, "pools_rung", rep.PoolsRung, "resources_expired", rep.ResourcesExpired)
	}
	if r.Metrics != nil {
		now := r.now()
		for _, p := range rep.Pools {
			if werr := emf.Write(r.Metrics, now, map[string]string{"Pool": p.Pool},
				emf.Metric{Name: "OldestQueuedJobAgeSeconds", Unit: "Seconds", Value: p.OldestAgeSeconds},
				emf.Metric{Name: "QueuedJobs", Unit: "Count", Value: float64(p.Queued)}); werr != nil {
				r.Logger.WarnContext(ctx, "metrics not written", "err", werr)
			}
		}
	}
	return rep, err
}

// HandleLambda serves the reaper Lambda's schedule: a full pass, then
// sweeps of the reap index every Every while jobs run, until Window after
// the start (or shortly before the invocation's deadline). An idle farm
// costs one pass a minute; a busy one a few index reads a minute.
func (r *Reaper) HandleLambda(ctx context.Context, _ json.RawMessage) (any, error) {
	start := r.now()
	rep, err := r.Tick(ctx)
	if rep == nil || r.Window <= 0 {
		return rep, err
	}
	every := r.Every
	if every <= 0 {
		every = SweepEvery
	}
	end := start.Add(r.Window)
	if d, ok := ctx.Deadline(); ok && d.Add(-every).Before(end) {
		end = d.Add(-every)
	}
	// A sweep's errors are logged and the sweeps go on (the next one
	// retries); the invocation answers with its pass's error.
	for running := rep.Running; running && r.now().Add(every).Before(end); {
		select {
		case <-ctx.Done():
			return rep, err
		case <-time.After(every):
		}
		srep, still, serr := r.Rules.Sweep(ctx)
		running = still || serr != nil
		if serr != nil && ctx.Err() == nil {
			r.Logger.ErrorContext(ctx, "reaper sweep had errors; the next sweep retries", "err", serr)
		}
		if srep != nil && srep.LeasesExpired+srep.TimedOut > 0 {
			r.Logger.InfoContext(ctx, "reaper sweep", "leases_expired", srep.LeasesExpired, "timed_out", srep.TimedOut, "builders_disabled", srep.BuildersDisabled)
		}
	}
	return rep, err
}

func (r *Reaper) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}
