package store

import (
	"fmt"
	"hash/fnv"
)

// A pool's dispatch index (its queued jobs in dispatch order) may be
// spread over several shards, so that submits and claims on one busy pool
// are not bound by what one storage partition takes (on DynamoDB, 1,000
// write units and 3,000 read units per second per partition key). A job's
// shard is a stable function of its id (DispatchShard); a store reads the
// head of every shard and merges them, so dispatch order stays exact.
//
// Shard k of a pool means the same shard whatever the width, and shard 0 is
// the unsharded index: widening a pool needs no migration (the jobs already
// queued stay on shards that are still read). Narrowing it from W to N is
// done in two steps, because jobs queued on shards N..W-1 are only found by
// a claim that reads them: first write N while still reading W, and once
// those shards are empty (the queue's wait time), read N too.

// MaxDispatchShards bounds a pool's width: every claim reads each shard.
const MaxDispatchShards = 64

// DispatchShards is how wide each pool's dispatch index is: how many
// shards new queued jobs spread over (write width) and how many a claim
// reads (read width: at least the write width). A pool not named has one
// shard of each. The zero value is every pool unsharded.
type DispatchShards struct {
	write, read map[string]int
}

// NewDispatchShards checks and builds per-pool widths: write[pool] is the
// write width, read[pool] (optional) a wider read width kept while a pool
// is narrowed.
func NewDispatchShards(write, read map[string]int) (DispatchShards, error) {
	d := DispatchShards{write: map[string]int{}, read: map[string]int{}}
	for pool, n := range write {
		if n < 1 || n > MaxDispatchShards {
			return DispatchShards{}, fmt.Errorf("dispatch shards of pool %q: %d is not 1..%d", pool, n, MaxDispatchShards)
		}
		d.write[pool] = n
	}
	for pool, n := range read {
		if n < 1 || n > MaxDispatchShards {
			return DispatchShards{}, fmt.Errorf("dispatch shards read by pool %q: %d is not 1..%d", pool, n, MaxDispatchShards)
		}
		d.read[pool] = n
	}
	return d, nil
}

// UniformDispatchShards gives each of pools n shards (tests, the bench).
func UniformDispatchShards(n int, pools ...string) DispatchShards {
	w := make(map[string]int, len(pools))
	for _, p := range pools {
		w[p] = n
	}
	d, err := NewDispatchShards(w, nil)
	if err != nil {
		panic(err)
	}
	return d
}

// Write is how many shards pool's new queued jobs spread over.
func (d DispatchShards) Write(pool string) int {
	if n := d.write[pool]; n > 0 {
		return n
	}
	return 1
}

// Read is how many shards a claim on pool reads (shards 0..Read-1).
func (d DispatchShards) Read(pool string) int {
	return max(d.Write(pool), d.read[pool])
}

// Shard is the shard job id of pool is queued on.
func (d DispatchShards) Shard(pool, id string) int {
	return DispatchShard(id, d.Write(pool))
}

// DispatchShard is the shard of job id among n: FNV-1a of the id, modulo
// n. Stable across processes and releases: changing it would strand
// queued jobs on shards no claim reads.
func DispatchShard(id string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}
