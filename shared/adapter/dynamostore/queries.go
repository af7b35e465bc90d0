package dynamostore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
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

// QueuedJobs reads a pool's queue from the sparse dispatch index, in rank
// order, merged across the pool's shards (shards.go).
func (s *Store) QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error) {
	return s.queuedAcrossShards(ctx, pool, limit)
}

// stringKey decodes one string attribute of an index entry.
func stringKey(name string) func(map[string]types.AttributeValue) (string, error) {
	return func(item map[string]types.AttributeValue) (string, error) {
		v, ok := item[name].(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("index entry without %s", name)
		}
		return v.Value, nil
	}
}

// ListJobs lists newest first through the index that answers the
// filter best (listIndex). The listing indexes hold keys and the
// never-changing type, pool and requester, so job writes that keep a job's
// status never touch them: those conditions run in the index query, the
// rest on the jobs read (one BatchGetItem per page). At most f.Scan index
// entries are examined per call; a page cut short by that bound carries a
// cursor after the last entry examined. The cursor is the last id returned
// or examined.
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) (*store.JobPage, error) {
	f, err := store.NormalizeFilter(f)
	if err != nil {
		return nil, err
	}
	after, _ := store.DecodeCursor(f.Cursor)
	matches := func(j *farm.Job) bool {
		return (f.Status == "" || j.Status == f.Status) && (f.Type == "" || j.Type == f.Type) && (f.Pool == "" || j.Pool == f.Pool) &&
			(f.RequestedBy == "" || j.RequestedBy == f.RequestedBy)
	}
	var jobs []*farm.Job
	var lastExamined string
	if f.Status.Active() {
		// Fetch one more than asked for, to know whether another page exists.
		jobs, lastExamined, err = s.listActive(ctx, after, f.Limit+1, f.Scan, matches)
	} else {
		ix := s.listIndex(f)
		in, qerr := keyQuery(s.top.Jobs.Name, ix.name, expression.Key(ix.pk).Equal(expression.Value(ix.pv)), ix.filter)
		if qerr != nil {
			return nil, qerr
		}
		in.ScanIndexForward = aws.Bool(false)
		if after != "" {
			in.ExclusiveStartKey = map[string]types.AttributeValue{"id": str(after), ix.pk: str(ix.pv)}
		}
		jobs, lastExamined, err = s.collect(ctx, in, f.Limit+1, f.Scan, ix.pageSize, matches)
	}
	if err != nil {
		return nil, err
	}
	page := &store.JobPage{Jobs: jobs}
	switch {
	case len(jobs) > f.Limit:
		page.Jobs = jobs[:f.Limit]
		page.NextCursor = store.EncodeCursor(page.Jobs[f.Limit-1].ID)
	case lastExamined != "":
		page.NextCursor = store.EncodeCursor(lastExamined)
	}
	return page, nil
}

// RecentStarts reads one range of the pool's start index, latest first:
// the figures are in the index keys, so no job is read.
func (s *Store) RecentStarts(ctx context.Context, pool string, since time.Time, limit int) ([]float64, error) {
	key := expression.KeyAnd(expression.Key("pool").Equal(expression.Value(pool)), expression.Key("start_key").GreaterThanEqual(expression.Value(fmtTime(since))))
	in, err := keyQuery(s.top.Jobs.Name, IndexStarts, key, nil)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(false)
	keys, err := query(ctx, s, in, limit, stringKey("start_key"))
	if err != nil {
		return nil, err
	}
	out := make([]float64, 0, len(keys))
	for _, k := range keys {
		v, err := timeToStartOf(k)
		if err != nil {
			return nil, farm.Internal(err)
		}
		out = append(out, v)
	}
	return out, nil
}

// listing is the index a listing reads: its partition, a filter on the
// attributes it projects for the conditions it can answer (nil: none;
// the others are checked on the jobs read), and how many entries one
// Query of it asks for.
type listing struct {
	name, pk, pv string
	filter       *expression.ConditionBuilder
	pageSize     func(missing int) int
}

// listIndex picks the index of a listing whose status is not an active
// one (those read the lease index: listActive): the sparse waiting index
// for waiting jobs, else every job newest first. A status other than
// waiting is checked on the jobs read: the indexes do not project it, as
// it changes at every transition.
func (s *Store) listIndex(f store.JobFilter) listing {
	ix := listing{name: IndexCreated, pk: "job_shard", pv: jobShard}
	if f.Status == farm.StatusWaiting {
		ix = listing{name: IndexWaiting, pk: "waiting_shard", pv: waitShard}
	}
	var conds []expression.ConditionBuilder
	for _, c := range []struct{ attr, value string }{{"type", f.Type}, {"pool", f.Pool}, {"requested_by", f.RequestedBy}} {
		if c.value != "" && slices.Contains(fixedJobAttributes, c.attr) {
			conds = append(conds, expression.Name(c.attr).Equal(expression.Value(c.value)))
		}
	}
	switch len(conds) {
	case 0:
	case 1:
		ix.filter = &conds[0]
	default:
		c := expression.And(conds[0], conds[1], conds[2:]...)
		ix.filter = &c
	}
	switch {
	case ix.filter != nil:
		// The index filters: examine as much of the budget as a page takes.
		ix.pageSize = func(int) int { return maxQueryPage }
	case f.Status != "" && ix.name == IndexCreated:
		// Every entry examined is a job read to check its status.
		ix.pageSize = func(int) int { return maxItemPage }
	default:
		// Nearly every entry is a job to return (the index may lag a
		// job's change): ask for what is missing, and a few more.
		ix.pageSize = func(missing int) int { return min(max(missing, 10), maxItemPage) }
	}
	return ix
}

// maxQueryPage bounds the entries one Query of a listing index examines;
// maxItemPage the jobs one page reads (one BatchGetItem).
const (
	maxQueryPage = 1000
	maxItemPage  = 100
)

// collect pages through a listing index query, reading the jobs of each
// page, until want jobs matched or scan entries were examined. When it
// stops at the scan bound with entries left, lastExamined is the id to
// continue after.
func (s *Store) collect(ctx context.Context, in *dynamodb.QueryInput, want, scan int, pageSize func(missing int) int, matches func(*farm.Job) bool) (jobs []*farm.Job, lastExamined string, err error) {
	jobs = []*farm.Job{}
	for scanned := 0; ; {
		in.Limit = aws.Int32(int32(max(min(pageSize(want-len(jobs)), scan-scanned, maxQueryPage), 1)))
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", unavailable("query", err)
		}
		scanned += max(int(page.ScannedCount), len(page.Items), 1)
		ids := make([]string, 0, len(page.Items))
		for _, item := range page.Items {
			id, err := stringKey("id")(item)
			if err != nil {
				return nil, "", farm.Internal(err)
			}
			ids = append(ids, id)
		}
		got, err := s.getJobs(ctx, ids)
		if err != nil {
			return nil, "", err
		}
		for _, id := range ids {
			// A job may change between the index and the read: filter on what was read.
			if j := got[id]; j != nil && matches(j) {
				if jobs = append(jobs, j); len(jobs) == want {
					return jobs, "", nil
				}
			}
		}
		if page.LastEvaluatedKey == nil {
			return jobs, "", nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		if scanned >= scan {
			last, err := stringKey("id")(page.LastEvaluatedKey)
			if err != nil {
				return nil, "", farm.Internal(err)
			}
			return jobs, last, nil
		}
	}
}

// getJobs reads jobs by id with strongly consistent batch reads (at most
// 100 keys a call), retrying the keys DynamoDB leaves unprocessed.
func (s *Store) getJobs(ctx context.Context, ids []string) (map[string]*farm.Job, error) {
	out := make(map[string]*farm.Job, len(ids))
	for start := 0; start < len(ids); start += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, map[string]types.AttributeValue{"id": str(id)})
		}
		req := map[string]types.KeysAndAttributes{s.top.Jobs.Name: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := sleepCtx(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
					return nil, err
				}
			}
			if attempt == 10 {
				return nil, unavailable("batch get", fmt.Errorf("keys still unprocessed after %d attempts", attempt))
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, unavailable("batch get", err)
			}
			for _, item := range res.Responses[s.top.Jobs.Name] {
				j, err := decodeJob(item)
				if err != nil {
					return nil, farm.Internal(err)
				}
				out[j.ID] = j
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// JobEvents reads a job's history, oldest first: from the job's own item.
func (s *Store) JobEvents(ctx context.Context, id string) ([]farm.JobEvent, error) {
	j, err := s.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return append([]farm.JobEvent{}, j.History...), nil
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

// ListResourcePools scans the (small) resource pools table, sorted by name.
func (s *Store) ListResourcePools(ctx context.Context) ([]*farm.ResourcePool, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(s.top.ResourcePools.Name), ConsistentRead: aws.Bool(true)}
	var out []*farm.ResourcePool
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, unavailable("scan", err)
		}
		for _, item := range page.Items {
			var rec poolRecord
			if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
				return nil, farm.Internal(err)
			}
			p, err := rec.pool()
			if err != nil {
				return nil, farm.Internal(err)
			}
			out = append(out, p)
		}
		if page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	slices.SortFunc(out, func(a, b *farm.ResourcePool) int { return strings.Compare(a.Name, b.Name) })
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

// ExpiredResourceLeases reads the (keys-only) held-resource lease index up
// to now, then each resource.
func (s *Store) ExpiredResourceLeases(ctx context.Context, now time.Time, limit int) ([]*farm.Resource, error) {
	key := expression.KeyAnd(expression.Key("held_shard").Equal(expression.Value(heldShard)), expression.Key("lease_expires_at").LessThan(expression.Value(fmtTime(now))))
	in, err := keyQuery(s.top.Resources.Name, IndexResourceLease, key, nil)
	if err != nil {
		return nil, err
	}
	type resourceKey struct{ pool, name string }
	keys, err := query(ctx, s, in, limit, func(item map[string]types.AttributeValue) (resourceKey, error) {
		pool, err := stringKey("pool")(item)
		if err != nil {
			return resourceKey{}, err
		}
		name, err := stringKey("name")(item)
		return resourceKey{pool, name}, err
	})
	if err != nil {
		return nil, err
	}
	var out []*farm.Resource
	for _, k := range keys {
		r, err := s.GetResource(ctx, k.pool, k.name)
		if farm.IsCode(err, farm.ENotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.State == farm.ResourceUsed && r.LeaseExpiresAt != nil && r.LeaseExpiresAt.Before(now) {
			out = append(out, r)
		}
	}
	return out, nil
}
