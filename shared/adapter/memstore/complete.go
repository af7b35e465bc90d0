package memstore

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// CompleteJob applies completion patch p to the job it presumes (see
// store.Store): the domain's own application of it, under the store's lock.
func (s *Store) CompleteJob(_ context.Context, p *farm.CompletionPatch) (*farm.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.jobs[p.ID]
	if cur == nil {
		return nil, farm.Errorf(farm.ENotFound, "job %s not found", p.ID)
	}
	if !p.Applies(cur) {
		if store.IsOwnCompletion(cur, p) {
			return cur.Clone(), nil
		}
		return nil, store.LostJobRace(cur.Clone())
	}
	next := p.Apply(cur)
	s.jobs[p.ID] = next
	return next.Clone(), nil
}
