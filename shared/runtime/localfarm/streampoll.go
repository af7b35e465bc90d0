package localfarm

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/eventpattern"
	"github.com/buildfarm/buildfarm/shared/app/store"
)

// streamPoller does locally what the DynamoDB-stream event source mapping
// does in AWS: read the jobs table's stream, keep the records its filter
// passes (the mapping's FilterCriteria, from the same data:
// dynamostore.DispatchFilter) and hand them to the dispatcher. It starts at
// the stream's end (what happened while the farm was down is covered by the
// reaper's sweep) and follows new shards.
type streamPoller struct {
	api       *dynamodbstreams.Client
	streamARN string
	filter    *eventpattern.Matcher
	apply     func(ctx context.Context, changes []store.JobChange) []string
	interval  time.Duration
	log       *slog.Logger
}

// passed keeps the records the filter passes, in the Lambda event's shape.
func (p *streamPoller) passed(records []types.Record) ([]events.DynamoDBEventRecord, error) {
	all, err := dynamostore.LambdaRecordsFromStream(records)
	if err != nil {
		return nil, err
	}
	kept := all[:0]
	for _, r := range all {
		ok, err := p.filter.MatchValue(r)
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

func (p *streamPoller) run(ctx context.Context) {
	iterators := map[string]*string{} // shard id -> next iterator
	var described time.Time
	for ctx.Err() == nil {
		// Shards change seldom (in AWS a shard closes every few hours and
		// a new one follows): look for new ones now and then, or at once
		// when a read failed, not before every read.
		if time.Since(described) >= shardDiscoveryInterval || len(iterators) == 0 {
			described = time.Now()
			if err := p.discoverShards(ctx, iterators); err != nil && ctx.Err() == nil {
				p.log.WarnContext(ctx, "stream: describe failed", "err", err)
			}
		}
		for shard, it := range iterators {
			if it == nil {
				continue
			}
			out, err := p.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(100)})
			if err != nil {
				if ctx.Err() == nil {
					p.log.WarnContext(ctx, "stream: read failed; re-reading the shard", "shard", shard, "err", err)
				}
				delete(iterators, shard)
				described = time.Time{}
				continue
			}
			kept, err := p.passed(out.Records)
			if err != nil {
				p.log.ErrorContext(ctx, "stream: records not understood; skipped (the reaper's sweep covers them)", "shard", shard, "err", err)
			}
			if len(kept) == 0 {
				iterators[shard] = out.NextShardIterator
				continue
			}
			if failed := p.apply(ctx, dynamostore.JobChangesFromRecords(kept)); len(failed) > 0 {
				// In AWS the mapping would redeliver; here the reaper's sweep
				// and the next change of the job cover it.
				p.log.WarnContext(ctx, "stream: records not dispatched", "records", failed)
			}
			iterators[shard] = out.NextShardIterator
		}
		select {
		case <-ctx.Done():
		case <-time.After(p.interval):
		}
	}
}

// shardDiscoveryInterval is how often the poller looks for new shards.
const shardDiscoveryInterval = 5 * time.Second

// discoverShards adds iterators for shards not yet followed.
func (p *streamPoller) discoverShards(ctx context.Context, iterators map[string]*string) error {
	desc, err := p.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &p.streamARN})
	if err != nil {
		return err
	}
	var errs []error
	for _, sh := range desc.StreamDescription.Shards {
		id := aws.ToString(sh.ShardId)
		if _, known := iterators[id]; known {
			continue
		}
		it, err := p.api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &p.streamARN, ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeLatest})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		iterators[id] = it.ShardIterator
	}
	return errors.Join(errs...)
}
