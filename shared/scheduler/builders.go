package scheduler

import (
	"context"
	"slices"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// RegisterBuilder creates or updates a builder from its registration. Its
// health record (failures, disabled state, current jobs) survives
// re-registration; a lost builder that registers again is back, and a
// builder registers as clean (freshly started or reset machine).
func (s *Scheduler) RegisterBuilder(ctx context.Context, name string, spec farm.BuilderSpec) (*farm.Builder, error) {
	if err := farm.CheckName("name", name); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	for i, p := range spec.Pools {
		if !s.pools[p] {
			return nil, farm.FieldError("pools", "pools[%d]: this farm does not serve pool %q (pools: %s)", i, p, strings.Join(s.poolList, ", "))
		}
	}
	var out *farm.Builder
	err := retryOnConflict(ctx, func() error {
		now := s.clock()
		cur, err := s.store.GetBuilder(ctx, name)
		if err != nil && !farm.IsCode(err, farm.ENotFound) {
			return err
		}
		var next *farm.Builder
		if cur == nil {
			next = &farm.Builder{Name: name, CleanStatus: farm.CleanClean, CurrentJobs: []string{}, RegisteredAt: now, Version: 1}
		} else {
			next = cur.Clone()
			next.Version++
			if next.State == farm.BuilderLost {
				next.State = farm.BuilderIdle
			}
		}
		next.Kind, next.Arch, next.Slots, next.Metadata = spec.Kind, spec.Arch, spec.Slots, spec.Metadata
		next.Pools = slices.Clone(spec.Pools)
		next.Capabilities = slices.Clone(spec.Capabilities)
		if next.Capabilities == nil {
			next.Capabilities = []string{}
		}
		next.Draining = false
		next.CleanStatus = farm.CleanClean
		next.LastHeartbeat = farm.TimePtr(now)
		next.UpdatedAt = now
		next.Refresh()
		if err := s.store.Commit(ctx, Tx{Builders: []BuilderWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err == nil {
		s.log.InfoContext(ctx, "builder registered", "builder", name, "pools", spec.Pools, "slots", spec.Slots)
	}
	return out, err
}

// DisableBuilder stops a builder from claiming work; running jobs finish.
func (s *Scheduler) DisableBuilder(ctx context.Context, name, reason, actor string) (*farm.Builder, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, farm.FieldError("reason", "is required")
	}
	return s.updateBuilder(ctx, name, func(b *farm.Builder) {
		b.Disabled = true
		b.DisabledReason = reason + " (by " + actor + ")"
	})
}

// EnableBuilder lets a disabled builder claim work again and clears its failure count.
func (s *Scheduler) EnableBuilder(ctx context.Context, name, reason, actor string) (*farm.Builder, error) {
	return s.updateBuilder(ctx, name, func(b *farm.Builder) {
		b.Disabled = false
		b.DisabledReason = ""
		b.ConsecutiveFailures = 0
		s.log.InfoContext(ctx, "builder enabled", "builder", name, "by", actor, "reason", reason)
	})
}

func (s *Scheduler) updateBuilder(ctx context.Context, name string, change func(*farm.Builder)) (*farm.Builder, error) {
	var out *farm.Builder
	err := retryOnConflict(ctx, func() error {
		cur, err := s.store.GetBuilder(ctx, name)
		if err != nil {
			return err
		}
		next := cur.Clone()
		change(next)
		next.Version++
		next.UpdatedAt = s.clock()
		next.Refresh()
		if err := s.store.Commit(ctx, Tx{Builders: []BuilderWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}
