package dynamostore

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The dispatch index's write shards (store.DispatchShards). One pool's
// queued jobs are one partition key of the dispatch index, and DynamoDB
// takes at most 1,000 write units and 3,000 read units a second per
// partition key: a pool with S shards spreads its queue over S keys.

// dispatchPartition is the dispatch index's partition key of shard k of
// pool: the pool's name for shard 0 — so that an unsharded pool (S = 1) is
// keyed exactly as before sharding existed and an existing table needs no
// migration, and a pool widened later keeps its queued jobs on a shard
// still read — and "<pool>#<k>" for the others (pool names cannot hold
// '#': topology and farm.CheckName allow a-z, 0-9, '-' and '_'). This is
// the only place that spells the key.
func dispatchPartition(pool string, shard int) string {
	if shard == 0 {
		return pool
	}
	return pool + "#" + strconv.Itoa(shard)
}

// WithDispatchShards sets how wide each pool's dispatch index is (zero
// value: every pool one shard) and returns the store. Set it before use.
func (s *Store) WithDispatchShards(d store.DispatchShards) *Store {
	s.shards = d
	return s
}

// jobRecord is the item of job j, queued on its shard of the dispatch index.
func (s *Store) jobRecord(j *farm.Job) jobRecord {
	r := toJobRecord(j)
	if r.QueuePool != "" {
		r.QueuePool = dispatchPartition(j.Pool, s.shards.Shard(j.Pool, j.ID))
	}
	return r
}

// dispatchIndex is the schema's dispatch index: its key attributes.
func dispatchIndex() Index {
	for _, ix := range JobIndexes() {
		if ix.Name == IndexQueued {
			return ix
		}
	}
	panic("dynamostore: the jobs table has no dispatch index")
}

// shardQuery is the query of shard k of pool's dispatch index, in dispatch order.
func (s *Store) shardQuery(pool string, shard int) (*dynamodb.QueryInput, error) {
	ix := dispatchIndex()
	in, err := keyQuery(s.top.Jobs.Name, IndexQueued, expression.Key(ix.Partition.Name).Equal(expression.Value(dispatchPartition(pool, shard))), nil)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(true)
	return in, nil
}

// rankedJob is a queued job with its dispatch index sort key.
type rankedJob struct {
	rank string
	job  *farm.Job
}

// queuedAcrossShards reads the first limit entries of each shard of pool's
// dispatch index — at once, one query per shard — and merges them by the
// index's sort key: the first limit of the merge are exactly the first
// limit of the whole queue, since each shard's own first limit hold every
// one of its jobs that can be among them. Entries of jobs that already
// left the queue (the index is eventually consistent) are dropped.
func (s *Store) queuedAcrossShards(ctx context.Context, pool string, limit int) ([]*farm.Job, error) {
	sortAttr := dispatchIndex().Sort.Name
	decode := func(item map[string]types.AttributeValue) (rankedJob, error) {
		rank, err := stringKey(sortAttr)(item)
		if err != nil {
			return rankedJob{}, err
		}
		j, err := decodeJob(item)
		return rankedJob{rank: rank, job: j}, err
	}
	n := s.shards.Read(pool)
	heads := make([][]rankedJob, n)
	g, gctx := errgroup.WithContext(ctx)
	for k := range n {
		in, err := s.shardQuery(pool, k)
		if err != nil {
			return nil, err
		}
		g.Go(func() error {
			var err error
			heads[k], err = query(gctx, s, in, limit, decode)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	merged := slices.Concat(heads...)
	slices.SortFunc(merged, func(a, b rankedJob) int { return cmp.Compare(a.rank, b.rank) })
	out := make([]*farm.Job, 0, len(merged))
	for _, r := range merged {
		if r.job.Status == farm.StatusQueued {
			out = append(out, r.job)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// countQueued counts pool's queued jobs over every shard read, stopping
// once the count reaches upTo (<= 0: no bound).
func (s *Store) countQueued(ctx context.Context, pool string, upTo int) (int, error) {
	total := 0
	for k := range s.shards.Read(pool) {
		in, err := s.shardQuery(pool, k)
		if err != nil {
			return 0, err
		}
		left := 0
		if upTo > 0 {
			left = upTo - total
		}
		n, err := s.count(ctx, in, left)
		if err != nil {
			return 0, err
		}
		if total += n; upTo > 0 && total >= upTo {
			return upTo, nil
		}
	}
	return total, nil
}

// QueuedPerShard counts the entries on each shard of pool's dispatch index
// that a claim reads: where the queue physically is (tests, operators
// narrowing a pool: a shard about to stop being read should be empty).
func (s *Store) QueuedPerShard(ctx context.Context, pool string) ([]int, error) {
	out := make([]int, s.shards.Read(pool))
	for k := range out {
		in, err := s.shardQuery(pool, k)
		if err != nil {
			return nil, err
		}
		if out[k], err = s.count(ctx, in, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}
