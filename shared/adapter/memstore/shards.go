package memstore

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The dispatch index's shards (store.DispatchShards). One map holds every
// job, so there is nothing to spread; the store still assigns each queued
// job its shard, as the DynamoDB store does, so that QueuedPerShard says
// where it would be, and QueuedJobs keeps the dispatch order whatever the
// width (it sorts the whole queue).

// WithDispatchShards sets how wide each pool's dispatch index is (zero
// value: every pool one shard) and returns the store. Set it before use.
func (s *Store) WithDispatchShards(d store.DispatchShards) *Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shards = d
	return s
}

// QueuedPerShard counts pool's queued jobs on each shard a claim reads.
func (s *Store) QueuedPerShard(_ context.Context, pool string) ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, s.shards.Read(pool))
	for _, j := range s.jobs {
		if j.Status == farm.StatusQueued && j.Pool == pool {
			out[s.shards.Shard(pool, j.ID)]++
		}
	}
	return out, nil
}
