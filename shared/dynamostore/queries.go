package dynamostore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/scheduler"
	"github.com/buildfarm/buildfarm/shared/topology"
)

// query runs a query to the end or until limit items (limit <= 0: all),
// unmarshalling each item with decode.
func query[T any](ctx context.Context, s *Store, in *dynamodb.QueryInput, limit int, decode func(map[string]types.AttributeValue) (T, error)) ([]T, error) {
	var out []T
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(min(limit-len(out), 1000)))
		}
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("query", err)
		}
		for _, item := range page.Items {
			v, err := decode(item)
			if err != nil {
				return nil, farm.Internal(err)
			}
			out = append(out, v)
		}
		if page.LastEvaluatedKey == nil || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func decodeJob(item map[string]types.AttributeValue) (*farm.Job, error) {
	var rec jobRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return nil, err
	}
	return rec.job()
}

func keyQuery(table, index string, key expression.KeyConditionBuilder, filter *expression.ConditionBuilder) (*dynamodb.QueryInput, error) {
	b := expression.NewBuilder().WithKeyCondition(key)
	if filter != nil {
		b = b.WithFilter(*filter)
	}
	e, err := b.Build()
	if err != nil {
		return nil, farm.Internal(err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    e.KeyCondition(),
		FilterExpression:          e.Filter(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}
	if index != "" {
		in.IndexName = aws.String(index)
	}
	return in, nil
}

// QueuedJobs reads a pool's queue from the sparse dispatch index, in rank order.
func (s *Store) QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error) {
	in, err := keyQuery(s.top.Jobs.Name, topology.IndexQueued, expression.Key("queue_pool").Equal(expression.Value(pool)), nil)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(true)
	jobs, err := query(ctx, s, in, limit, decodeJob)
	if err != nil {
		return nil, err
	}
	// The index is eventually consistent: drop entries that already left the queue.
	return slices.DeleteFunc(jobs, func(j *farm.Job) bool { return j.Status != farm.StatusQueued }), nil
}

func (s *Store) activeBefore(ctx context.Context, index, attr string, now time.Time, limit int) ([]*farm.Job, error) {
	key := expression.KeyAnd(expression.Key("active_shard").Equal(expression.Value(activeShard)), expression.Key(attr).LessThan(expression.Value(fmtTime(now))))
	in, err := keyQuery(s.top.Jobs.Name, index, key, nil)
	if err != nil {
		return nil, err
	}
	jobs, err := query(ctx, s, in, limit, decodeJob)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(jobs, func(j *farm.Job) bool { return !j.Status.Active() }), nil
}

// ExpiredLeases reads the lease index up to now.
func (s *Store) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]*farm.Job, error) {
	return s.activeBefore(ctx, topology.IndexLease, "lease_expires_at", now, limit)
}

// OverdueJobs reads the deadline index up to now.
func (s *Store) OverdueJobs(ctx context.Context, now time.Time, limit int) ([]*farm.Job, error) {
	return s.activeBefore(ctx, topology.IndexDeadline, "deadline_at", now, limit)
}

// ListJobs lists newest first through the most selective index the filter
// allows, filtering the rest server-side. The cursor is the last id returned.
func (s *Store) ListJobs(ctx context.Context, f scheduler.JobFilter) (*scheduler.JobPage, error) {
	f, err := scheduler.NormalizeFilter(f)
	if err != nil {
		return nil, err
	}
	after, _ := scheduler.DecodeCursor(f.Cursor)
	index, pk, pv := topology.IndexCreated, "job_shard", jobShard
	var filters []expression.ConditionBuilder
	eq := func(name, v string) { filters = append(filters, expression.Name(name).Equal(expression.Value(v))) }
	switch {
	case f.Status != "":
		index, pk, pv = topology.IndexStatus, "status", string(f.Status)
		if f.Type != "" {
			eq("type", f.Type)
		}
		if f.Pool != "" {
			eq("pool", f.Pool)
		}
	case f.Type != "":
		index, pk, pv = topology.IndexType, "type", f.Type
		if f.Pool != "" {
			eq("pool", f.Pool)
		}
	case f.Pool != "":
		index, pk, pv = topology.IndexPool, "pool", f.Pool
	}
	var filter *expression.ConditionBuilder
	switch len(filters) {
	case 1:
		filter = &filters[0]
	case 2:
		c := expression.And(filters[0], filters[1])
		filter = &c
	}
	in, err := keyQuery(s.top.Jobs.Name, index, expression.Key(pk).Equal(expression.Value(pv)), filter)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(false)
	if after != "" {
		in.ExclusiveStartKey = map[string]types.AttributeValue{"id": str(after), pk: str(pv)}
	}
	// Fetch one more than asked for, to know whether another page exists.
	jobs, err := s.collect(ctx, in, f.Limit+1)
	if err != nil {
		return nil, err
	}
	page := &scheduler.JobPage{Jobs: jobs}
	if len(jobs) > f.Limit {
		page.Jobs = jobs[:f.Limit]
		page.NextCursor = scheduler.EncodeCursor(page.Jobs[f.Limit-1].ID)
	}
	return page, nil
}

// collect pages through a filtered query until want items matched (a
// filter is applied after the page limit, so pages may come back short).
func (s *Store) collect(ctx context.Context, in *dynamodb.QueryInput, want int) ([]*farm.Job, error) {
	jobs := []*farm.Job{}
	for {
		in.Limit = aws.Int32(int32(max(want-len(jobs), 25)))
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("query", err)
		}
		for _, item := range page.Items {
			j, err := decodeJob(item)
			if err != nil {
				return nil, farm.Internal(err)
			}
			if jobs = append(jobs, j); len(jobs) == want {
				return jobs, nil
			}
		}
		if page.LastEvaluatedKey == nil {
			return jobs, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// JobEvents reads a job's history, oldest first.
func (s *Store) JobEvents(ctx context.Context, id string) ([]farm.JobEvent, error) {
	in, err := keyQuery(s.top.JobEvents.Name, "", expression.Key("job_id").Equal(expression.Value(id)), nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	evs, err := query(ctx, s, in, 0, func(item map[string]types.AttributeValue) (farm.JobEvent, error) {
		var rec eventRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return farm.JobEvent{}, err
		}
		return rec.event()
	})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		if _, err := s.GetJob(ctx, id); err != nil {
			return nil, err
		}
	}
	if evs == nil {
		evs = []farm.JobEvent{}
	}
	return evs, nil
}

// ListBuilders scans the (small) builders table, sorted by name.
func (s *Store) ListBuilders(ctx context.Context) ([]*farm.Builder, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(s.top.Builders.Name), ConsistentRead: aws.Bool(true)}
	var out []*farm.Builder
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, unavailable("scan", err)
		}
		for _, item := range page.Items {
			var rec builderRecord
			if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
				return nil, farm.Internal(err)
			}
			b, err := rec.builder()
			if err != nil {
				return nil, farm.Internal(err)
			}
			out = append(out, b)
		}
		if page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	slices.SortFunc(out, func(a, b *farm.Builder) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func decodeResource(item map[string]types.AttributeValue) (*farm.Resource, error) {
	var rec resourceRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return nil, err
	}
	return rec.resource()
}

// ListResources reads a pool's resources, sorted by name.
func (s *Store) ListResources(ctx context.Context, pool string) ([]*farm.Resource, error) {
	in, err := keyQuery(s.top.Resources.Name, "", expression.Key("pool").Equal(expression.Value(pool)), nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	return query(ctx, s, in, 0, decodeResource)
}

// ExpiredResourceLeases reads the held-resource lease index up to now.
func (s *Store) ExpiredResourceLeases(ctx context.Context, now time.Time, limit int) ([]*farm.Resource, error) {
	key := expression.KeyAnd(expression.Key("held_shard").Equal(expression.Value(heldShard)), expression.Key("lease_expires_at").LessThan(expression.Value(fmtTime(now))))
	in, err := keyQuery(s.top.Resources.Name, topology.IndexResourceLease, key, nil)
	if err != nil {
		return nil, err
	}
	res, err := query(ctx, s, in, limit, decodeResource)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(res, func(r *farm.Resource) bool { return r.State != farm.ResourceUsed }), nil
}
