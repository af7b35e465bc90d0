package memstore

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// fleetState is what the elastic fleet keeps: scaler records by pool and
// instance identity claims by instance id.
type fleetState struct {
	records map[string]*fleet.Record
	claims  map[string]*fleet.InstanceClaim
}

// CountPoolJobs counts a pool's queued and running (or cancelling) jobs,
// each count stopping at upTo (<= 0: no bound).
func (s *Store) CountPoolJobs(_ context.Context, pool string, upTo int) (fleet.Demand, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d fleet.Demand
	for _, j := range s.jobs {
		if j.Pool != pool {
			continue
		}
		switch {
		case j.Status == farm.StatusQueued && (upTo <= 0 || d.Queued < upTo):
			d.Queued++
		case j.Status.Active() && (upTo <= 0 || d.Running < upTo):
			d.Running++
		}
	}
	return d, nil
}

// GetScalerRecord returns pool's scaler record (Version 0 when none was written).
func (s *Store) GetScalerRecord(_ context.Context, pool string) (*fleet.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.fleet.records[pool]; r != nil {
		return r.Clone(), nil
	}
	return &fleet.Record{Pool: pool, Marks: map[string]fleet.Mark{}}, nil
}

// PutScalerRecord writes next if the stored record is still prev (by
// version; Version 0: none stored), else it is a lost race.
func (s *Store) PutScalerRecord(_ context.Context, prev, next *fleet.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.fleet.records[next.Pool]
	switch {
	case cur == nil && prev.Version != 0, cur != nil && cur.Version != prev.Version:
		return store.LostRace("scaler record %s changed since it was read", next.Pool)
	}
	if s.fleet.records == nil {
		s.fleet.records = map[string]*fleet.Record{}
	}
	s.fleet.records[next.Pool] = next.Clone()
	return nil
}

// GetInstanceClaim returns an instance's identity claim, or ENotFound.
func (s *Store) GetInstanceClaim(_ context.Context, id string) (*fleet.InstanceClaim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.fleet.claims[id]
	if c == nil {
		return nil, farm.Errorf(farm.ENotFound, "no identity claim for instance %s", id)
	}
	cp := *c
	return &cp, nil
}

// PutInstanceClaim creates (prev nil: only if none is stored) or replaces
// (conditional on prev's version) an instance's identity claim.
func (s *Store) PutInstanceClaim(_ context.Context, prev, next *fleet.InstanceClaim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.fleet.claims[next.InstanceID]
	switch {
	case prev == nil && cur != nil, prev != nil && (cur == nil || cur.Version != prev.Version):
		return store.LostRace("identity claim of %s changed since it was read", next.InstanceID)
	}
	if s.fleet.claims == nil {
		s.fleet.claims = map[string]*fleet.InstanceClaim{}
	}
	cp := *next
	s.fleet.claims[next.InstanceID] = &cp
	return nil
}

// DeleteBuilder deletes a builder if it is still prev (by version).
func (s *Store) DeleteBuilder(_ context.Context, prev *farm.Builder) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.builders[prev.Name]
	if cur == nil || cur.Version != prev.Version {
		return store.LostRace("builder %s changed since it was read", prev.Name)
	}
	delete(s.builders, prev.Name)
	return nil
}
