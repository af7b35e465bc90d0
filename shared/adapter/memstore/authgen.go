package memstore

import (
	"context"
	"slices"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// GetAuthGeneration returns a copy of the auth generation record (Gen 0
// when none was written).
func (s *Store) GetAuthGeneration(_ context.Context) (*farm.AuthGeneration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneAuthGen(s.authGen), nil
}

// checkAuthGen fails a write whose Prev is not the stored record (by Gen).
func (s *Store) checkAuthGen(w *store.AuthGenWrite) error {
	if w == nil {
		return nil
	}
	stored, prev := int64(0), int64(0)
	if s.authGen != nil {
		stored = s.authGen.Gen
	}
	if w.Prev != nil {
		prev = w.Prev.Gen
	}
	if stored != prev {
		return conflict("the auth generation changed since it was read")
	}
	return nil
}

func cloneAuthGen(g *farm.AuthGeneration) *farm.AuthGeneration {
	if g == nil {
		return &farm.AuthGeneration{}
	}
	c := *g
	c.Changes = slices.Clone(g.Changes)
	return &c
}
