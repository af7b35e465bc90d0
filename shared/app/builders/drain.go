package builders

import (
	"context"
	"maps"
	"strings"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// DrainRequest asks a builder to claim nothing more.
type DrainRequest struct {
	Name   string
	Reason string
	// OnlyIdle refuses, as a conflict, a builder holding a job.
	OnlyIdle bool
	// Placeholder, when set, creates a drained record for a builder that
	// never registered, with this metadata: when it does register, it is
	// drained already (registering does not lift a drain request).
	Placeholder map[string]string
}

// RequestDrain asks a builder to claim nothing more (the scaler retiring an
// idle instance): from this write on its heartbeats answer drain and its
// claims are refused — by this process at once, by other API processes
// within the auth generation's bound (commit bumps it; without a watcher,
// once their cached record is older than DefaultCacheTTL): a claim writes
// no builder item to be fenced by. OnlyIdle checks the jobs the
// reap index shows the builder holding, so a claim that slipped in during
// those seconds shows at the scaler's next look and keeps the instance. Asking again changes nothing, but OnlyIdle
// is checked again on the builder as read now. It returns the builder as
// stored after the request: when it succeeded with OnlyIdle, that builder
// holds no job and can be given none.
func (s *Service) RequestDrain(ctx context.Context, req DrainRequest) (*farm.Builder, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return nil, farm.FieldError("reason", "is required")
	}
	return s.changeDrain(ctx, req.Name, req.Placeholder, func(b *farm.Builder) (bool, error) {
		if req.OnlyIdle {
			if err := store.FillCurrentJobs(ctx, s.store, b); err != nil {
				return false, err
			}
		}
		if req.OnlyIdle && len(b.CurrentJobs) > 0 {
			return false, farm.Errorf(farm.EConflict, "builder %s holds %d jobs", b.Name, len(b.CurrentJobs))
		}
		if b.DrainRequested {
			return false, nil
		}
		b.DrainRequested, b.DrainReason, b.DrainRequestedAt = true, req.Reason, farm.TimePtr(s.now())
		return true, nil
	})
}

// LiftDrain withdraws a drain request (the queue grew back before the
// builder was retired): it claims again after its next heartbeat.
func (s *Service) LiftDrain(ctx context.Context, name string) (*farm.Builder, error) {
	return s.changeDrain(ctx, name, nil, func(b *farm.Builder) (bool, error) {
		if !b.DrainRequested {
			return false, nil
		}
		b.DrainRequested, b.DrainReason, b.DrainRequestedAt = false, "", nil
		return true, nil
	})
}

// changeDrain applies change to the builder with a conditional write,
// re-reading while it loses races; change reports whether it changed
// anything. A missing builder is ENotFound, or with placeholder metadata a
// new record holding no pools and no jobs.
func (s *Service) changeDrain(ctx context.Context, name string, placeholder map[string]string, change func(*farm.Builder) (bool, error)) (*farm.Builder, error) {
	if err := farm.CheckName("name", name); err != nil {
		return nil, err
	}
	var out *farm.Builder
	err := store.RetryOnConflict(ctx, func() error {
		now := s.now()
		cur, err := s.store.GetBuilder(ctx, name)
		var next *farm.Builder
		switch {
		case farm.IsCode(err, farm.ENotFound) && placeholder != nil:
			cur = nil
			next = &farm.Builder{Name: name, Kind: farm.KindEC2, Pools: []string{}, Capabilities: []string{}, CurrentJobs: []string{},
				Metadata: maps.Clone(placeholder), CleanStatus: farm.CleanClean, RegisteredAt: now, Version: 1}
		case err != nil:
			return err
		default:
			next = cur.Clone()
			next.Version++
		}
		changed, err := change(next)
		if err != nil || (!changed && cur != nil) {
			out = cur
			return err
		}
		next.UpdatedAt = now
		next.Refresh()
		if err := s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}
