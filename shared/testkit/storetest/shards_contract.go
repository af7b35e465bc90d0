package storetest

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// ShardedStore is a store whose pools' dispatch index is spread over
// shards (store.DispatchShards): it says how many queued jobs each shard a
// claim reads holds.
type ShardedStore interface {
	store.Store
	QueuedPerShard(ctx context.Context, pool string) ([]int, error)
}

// RunSharded runs the parts of the suite that go through the dispatch
// index — dispatch order, priority, claim races, pools, the queue's
// estimates, the scaler's counts — against a store whose every pool
// (Pools) has `shards` shards, and checks that the queue is really spread
// over them while claims keep the exact dispatch order.
func RunSharded(t *testing.T, shards int, newStore NewStore) {
	t.Run("Store", func(t *testing.T) { RunStoreContract(t, newStore) })
	t.Run("Rules", func(t *testing.T) { RunRulesContract(t, newStore) })
	t.Run("TimeToStart", func(t *testing.T) { RunTimeToStartContract(t, newStore) })
	t.Run("Scaler", func(t *testing.T) { RunScalerContract(t, newStore) })
	t.Run("Shards", func(t *testing.T) { RunShardsContract(t, shards, newStore) })
}

// dispatchOrder sorts jobs as a claim must take them: highest score
// first, then oldest (smallest id).
func dispatchOrder(jobs []*farm.Job) []string {
	jobs = slices.Clone(jobs)
	slices.SortFunc(jobs, func(a, b *farm.Job) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobIDs(jobs)
}

// RunShardsContract checks a store whose pools have `shards` shards:
// queued jobs land on more than one shard, every shard a claim reads is
// counted, and both the store's QueuedJobs and the claims through the
// services keep strict dispatch order across shards.
func RunShardsContract(t *testing.T, shards int, newStore NewStore) {
	ctx := context.Background()
	sharded := func(t *testing.T, s store.Store) ShardedStore {
		ss, ok := s.(ShardedStore)
		if !ok {
			t.Fatalf("%T does not say where its queue is (QueuedPerShard)", s)
		}
		return ss
	}
	// spread checks that n queued jobs of pool are all on the shards read,
	// and on more than one of them.
	spread := func(t *testing.T, s ShardedStore, pool string, n int) {
		t.Helper()
		per, err := s.QueuedPerShard(ctx, pool)
		must(t, err)
		used, total := 0, 0
		for _, c := range per {
			total += c
			if c > 0 {
				used++
			}
		}
		t.Logf("%d queued jobs of %s per shard: %v", n, pool, per)
		if len(per) != shards || total != n || used < 2 {
			t.Fatalf("queued jobs per shard %v: want %d shards holding %d jobs, on more than one", per, shards, n)
		}
	}

	t.Run("QueuedJobsMergeTheShardsExactly", func(t *testing.T) {
		t.Parallel()
		s := sharded(t, newStore(t))
		rng := rand.New(rand.NewPCG(18, 4))
		ids := newIDs(32)
		var queued []*farm.Job
		for i, id := range ids {
			// Few distinct scores: ties, broken by age, across shards.
			j := rawJob(id, farm.StatusQueued, "default", int64(rng.IntN(4)*25-50))
			if i%8 == 7 {
				j.Status = farm.StatusRunning // not on the queue
			} else {
				queued = append(queued, j)
			}
			create(t, s, j)
		}
		create(t, s, rawJob(newIDs(1)[0], farm.StatusQueued, "arm64", 9999))
		spread(t, s, "default", len(queued))
		want := dispatchOrder(queued)
		for _, limit := range []int{1, 3, 7, len(want), 100} {
			got, err := s.QueuedJobs(ctx, "default", limit)
			must(t, err)
			if w := want[:min(limit, len(want))]; !reflect.DeepEqual(jobIDs(got), w) {
				t.Fatalf("limit %d: dispatch order %v, want %v", limit, jobIDs(got), w)
			}
		}
	})

	t.Run("ClaimsTakeTheBestJobOfEveryShard", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, farm.Policy{})
		s := sharded(t, e.Store)
		e.Builder(t, "b1", 64)
		rng := rand.New(rand.NewPCG(18, 18))
		var jobs []*farm.Job
		for range 40 {
			jobs = append(jobs, e.ScriptJob(t, "default", int64(rng.IntN(5)*25-50)))
			e.Clock.Advance(time.Millisecond)
		}
		spread(t, s, "default", len(jobs))
		for i, w := range dispatchOrder(jobs) {
			j, err := e.Claim(ctx, "b1", "default")
			must(t, err)
			if j == nil || j.ID != w {
				t.Fatalf("claim %d took %v, want %s (score order across shards)", i, j, w)
			}
		}
		if j, err := e.Claim(ctx, "b1", "default"); err != nil || j != nil {
			t.Fatalf("claim of an empty sharded pool = %v, %v", j, err)
		}
		per, err := s.QueuedPerShard(ctx, "default")
		must(t, err)
		if slices.Max(per) != 0 {
			t.Fatalf("claimed jobs still on the shards: %v", per)
		}
	})
}
