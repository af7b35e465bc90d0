package scheduler

import (
	"context"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// RequestDrain asks builder name to claim nothing more (the scaler retiring
// an idle instance): from this write on its claims are refused (a claim's
// slot write is conditional on the builder record, which now says drain),
// and its heartbeats answer drain. With onlyIdle the request is refused, as
// a conflict, when the builder holds a job; asking again changes nothing.
// It returns the builder as written.
func (s *Scheduler) RequestDrain(ctx context.Context, name, reason string, onlyIdle bool) (*farm.Builder, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, farm.FieldError("reason", "is required")
	}
	return s.changeDrain(ctx, name, func(b *farm.Builder) (bool, error) {
		if onlyIdle && len(b.CurrentJobs) > 0 {
			return false, farm.Errorf(farm.EConflict, "builder %s holds %d jobs", name, len(b.CurrentJobs))
		}
		if b.DrainRequested {
			return false, nil
		}
		b.DrainRequested, b.DrainReason, b.DrainRequestedAt = true, reason, farm.TimePtr(s.clock())
		return true, nil
	})
}

// LiftDrain withdraws a drain request (the queue grew back before the
// builder was retired): it claims again after its next heartbeat.
func (s *Scheduler) LiftDrain(ctx context.Context, name string) (*farm.Builder, error) {
	return s.changeDrain(ctx, name, func(b *farm.Builder) (bool, error) {
		if !b.DrainRequested {
			return false, nil
		}
		b.DrainRequested, b.DrainReason, b.DrainRequestedAt = false, "", nil
		return true, nil
	})
}

// changeDrain applies change to the builder with a conditional write,
// re-reading while it loses races; change reports whether it changed anything.
func (s *Scheduler) changeDrain(ctx context.Context, name string, change func(*farm.Builder) (bool, error)) (*farm.Builder, error) {
	var out *farm.Builder
	err := retryOnConflict(ctx, func() error {
		cur, err := s.store.GetBuilder(ctx, name)
		if err != nil {
			return err
		}
		next := cur.Clone()
		changed, err := change(next)
		if err != nil || !changed {
			out = cur
			return err
		}
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
