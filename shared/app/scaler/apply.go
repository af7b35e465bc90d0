package scaler

import (
	"context"
	"fmt"

	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/metrics"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// Apply carries out a plan. Each step re-checks what it acts on, so a plan
// made from an observation that went stale (an overlapping run, a builder
// that claimed meanwhile) is still safe:
//
//   - an instance is removed only right after a drain request, conditional on
//     its builder record, found it holding no job (from that write on, the
//     farm refuses its claims, so it cannot get one before it is gone);
//   - desired capacity is never set above the pool's max, whatever the plan says.
func (s *Scaler) Apply(ctx context.Context, cfg fleet.PoolConfig, p *Plan, rep *PoolReport) {
	rep.Decision = p.Decision
	rep.Previous = p.Group.Desired
	desired := p.Group.Desired
	for _, id := range p.Undrain {
		if _, err := s.Drainer.LiftDrain(ctx, id); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("undrain %s: %v", id, err))
			continue
		}
		rep.Undrained = append(rep.Undrained, id)
	}
	kept := 0
	for _, r := range p.Terminate {
		if !s.fence(ctx, cfg, r.ID, "scale-in: "+r.Why, rep) {
			kept++
			continue
		}
		decrement := desired > cfg.Min
		if err := s.Groups.Remove(ctx, cfg.Group, r.ID, decrement); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", r.ID, err))
			kept++
			continue
		}
		if decrement {
			desired--
		}
		rep.Removed = append(rep.Removed, r.ID)
	}
	for _, id := range p.Drain {
		reason := fmt.Sprintf("scale-in: idle for %s or more and the pool needs %d instances", cfg.Idle(), p.Target)
		if _, err := s.Drainer.RequestDrain(ctx, builders.DrainRequest{Name: id, Reason: reason, OnlyIdle: true}); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("drain %s: %v", id, err))
			continue
		}
		rep.Drained = append(rep.Drained, id)
	}
	// A removal that did not happen leaves its instance counted.
	want := min(max(p.Desired+kept, cfg.Min), cfg.Max)
	if want != desired {
		if err := s.setDesired(ctx, cfg, want); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			rep.Set = true
		}
	}
	rep.Desired = want
	for _, b := range p.Forget {
		if err := s.Store.DeleteBuilder(ctx, b); err == nil {
			s.log().InfoContext(ctx, "scaler forgot the builder of a gone instance", "pool", cfg.Pool, "builder", b.Name)
		}
	}
}

// fence asks the instance's builder to drain, only if it holds nothing
// (creating a drained record if it never registered). It reports whether
// the instance may be removed.
func (s *Scaler) fence(ctx context.Context, cfg fleet.PoolConfig, id, reason string, rep *PoolReport) bool {
	b, err := s.Drainer.RequestDrain(ctx, builders.DrainRequest{Name: id, Reason: reason, OnlyIdle: true,
		Placeholder: map[string]string{PlaceholderGroup: cfg.Group}})
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("keep %s: %v", id, err))
		return false
	}
	return b.DrainRequested && len(b.CurrentJobs) == 0
}

// setDesired is the one place desired capacity is set; it refuses anything
// above the pool's max, which AWS would refuse too (emulators accept it).
func (s *Scaler) setDesired(ctx context.Context, cfg fleet.PoolConfig, n int) error {
	if n > cfg.Max || n < 0 {
		return fmt.Errorf("set desired %d: outside 0..max %d (not sent)", n, cfg.Max)
	}
	if err := s.Groups.SetDesired(ctx, cfg.Group, n); err != nil {
		return fmt.Errorf("set desired %d: %w", n, err)
	}
	return nil
}

// Metric names the scaler emits per pool (dimension Pool).
const (
	MetricDesired   = "FleetDesiredCapacity"
	MetricNeed      = "FleetNeededInstances"
	MetricAlive     = "FleetAliveInstances"
	MetricServing   = "FleetServingInstances"
	MetricRemoved   = "FleetInstancesRemoved"
	MetricDrained   = "FleetBuildersDrained"
	MetricUndrained = "FleetBuildersUndrained"
	MetricErrors    = "FleetScalerErrors"
)

// report logs the pool's decision and emits it as metrics.
func (s *Scaler) report(ctx context.Context, cfg fleet.PoolConfig, trigger Trigger, rep *PoolReport) {
	level := "info"
	attrs := []any{"pool", cfg.Pool, "group", cfg.Group, "trigger", trigger, "need", rep.Need, "target", rep.Target,
		"alive", rep.Alive, "serving", rep.Serving, "previous_desired", rep.Previous, "desired", rep.Desired, "set", rep.Set,
		"min", cfg.Min, "max", cfg.Max, "removed", rep.Removed, "drained", rep.Drained, "undrained", rep.Undrained, "reason", rep.Reason}
	if len(rep.Errors) > 0 {
		level = "warn"
		attrs = append(attrs, "errors", rep.Errors)
	}
	if level == "warn" {
		s.log().WarnContext(ctx, "scaler decision", attrs...)
	} else {
		s.log().InfoContext(ctx, "scaler decision", attrs...)
	}
	if s.Metrics == nil {
		return
	}
	err := s.Metrics.Publish(s.now(), map[string]string{"Pool": cfg.Pool},
		metrics.Metric{Name: MetricDesired, Unit: "Count", Value: float64(rep.Desired)},
		metrics.Metric{Name: MetricNeed, Unit: "Count", Value: float64(rep.Need)},
		metrics.Metric{Name: MetricAlive, Unit: "Count", Value: float64(rep.Alive)},
		metrics.Metric{Name: MetricServing, Unit: "Count", Value: float64(rep.Serving)},
		metrics.Metric{Name: MetricRemoved, Unit: "Count", Value: float64(len(rep.Removed))},
		metrics.Metric{Name: MetricDrained, Unit: "Count", Value: float64(len(rep.Drained))},
		metrics.Metric{Name: MetricUndrained, Unit: "Count", Value: float64(len(rep.Undrained))},
		metrics.Metric{Name: MetricErrors, Unit: "Count", Value: float64(len(rep.Errors))})
	if err != nil {
		s.log().WarnContext(ctx, "scaler metrics not written", "err", err)
	}
}
