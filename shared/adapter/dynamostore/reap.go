package dynamostore

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The reap index (IndexReap) holds running and cancelling jobs only, keyed
// by reap_at and projecting what never changes while a job is active:
// builder, pool, type, started_at. It serves the reaper's sweep
// (DueJobs), a builder's current jobs and a pool's running count
// (ActiveJobs, CountPoolJobs). Its entry is written when a job is claimed,
// when it ends and when reap_at moves — heartbeats move it only when it
// gets close (farm.Job.ReapAt) — never per heartbeat.

// reapAtOf is an active job's reap_at: its own, or for a job written
// before it had one, its lease's expiry (or "" without a lease: such a
// job is on no reaper index, as before).
func reapAtOf(j *farm.Job) string {
	if j.ReapAt != nil {
		return fmtTime(*j.ReapAt)
	}
	return fmtTimePtr(j.LeaseExpiresAt)
}

// reapEntry is an entry of the reap index.
type reapEntry struct {
	ID        string `dynamodbav:"id"`
	Builder   string `dynamodbav:"builder"`
	Pool      string `dynamodbav:"pool"`
	Type      string `dynamodbav:"type"`
	StartedAt string `dynamodbav:"started_at"`
	ReapAt    string `dynamodbav:"reap_at"`
}

func decodeReapEntry(item map[string]types.AttributeValue) (store.ActiveJob, error) {
	var e reapEntry
	if err := attributevalue.UnmarshalMap(item, &e); err != nil {
		return store.ActiveJob{}, err
	}
	a := store.ActiveJob{ID: e.ID, Builder: e.Builder, Pool: e.Pool, Type: e.Type}
	var err error
	if a.ReapAt, err = parseTime(e.ReapAt); err != nil {
		return a, err
	}
	a.StartedAt, err = parseTime(e.StartedAt)
	return a, err
}

// DueJobs reads the reap index up to now, soonest first.
func (s *Store) DueJobs(ctx context.Context, now time.Time, limit int) ([]string, error) {
	key := expression.KeyAnd(expression.Key("active_shard").Equal(expression.Value(activeShard)), expression.Key("reap_at").LessThan(expression.Value(fmtTime(now))))
	in, err := keyQuery(s.top.Jobs.Name, IndexReap, key, nil)
	if err != nil {
		return nil, err
	}
	return query(ctx, s, in, limit, stringKey("id"))
}

// ActiveJobs reads the reap index (filtered by builder when one is named).
func (s *Store) ActiveJobs(ctx context.Context, builder string, limit int) ([]store.ActiveJob, error) {
	var filter *expression.ConditionBuilder
	if builder != "" {
		f := expression.Name("builder").Equal(expression.Value(builder))
		filter = &f
	}
	in, err := keyQuery(s.top.Jobs.Name, IndexReap, expression.Key("active_shard").Equal(expression.Value(activeShard)), filter)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(true)
	out, err := query(ctx, s, in, limit, decodeReapEntry)
	if out == nil && err == nil {
		out = []store.ActiveJob{}
	}
	return out, err
}
