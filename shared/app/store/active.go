package store

import (
	"context"
	"slices"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// ActiveLister reads the reap index (Store.ActiveJobs).
type ActiveLister interface {
	ActiveJobs(ctx context.Context, builder string, limit int) ([]ActiveJob, error)
}

// FillCurrentJobs sets each builder's CurrentJobs, and its State with
// them, from the jobs the reap index shows it holding: claims and
// completions write no builder item, so a builder's current jobs are
// derived, never stored. One index read serves them all (filtered by the
// builder when there is one).
func FillCurrentJobs(ctx context.Context, src ActiveLister, bs ...*farm.Builder) error {
	if len(bs) == 0 {
		return nil
	}
	name := ""
	if len(bs) == 1 {
		name = bs[0].Name
	}
	active, err := src.ActiveJobs(ctx, name, 0)
	if err != nil {
		return err
	}
	SetCurrentJobs(active, bs...)
	return nil
}

// SetCurrentJobs sets each builder's CurrentJobs, and its State, from
// active: every job the reap index holds (see FillCurrentJobs).
func SetCurrentJobs(active []ActiveJob, bs ...*farm.Builder) {
	held := map[string][]string{}
	for _, a := range active {
		held[a.Builder] = append(held[a.Builder], a.ID)
	}
	for _, b := range bs {
		// In id order (oldest claim's job first is not what the index
		// keeps: it orders by reap_at, which heartbeats move).
		b.CurrentJobs = slices.Sorted(slices.Values(held[b.Name]))
		if b.CurrentJobs == nil {
			b.CurrentJobs = []string{}
		}
		b.Refresh()
	}
}
