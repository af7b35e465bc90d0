package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// The elastic fleet's items live in the fleet table under one key
// attribute: "pool#<pool>" for scaler records, "instance#<id>" for
// instance identity claims.
const (
	poolKeyPrefix     = "pool#"
	instanceKeyPrefix = "instance#"
)

// CountPoolJobs counts a pool's queued jobs on the dispatch index (each
// shard a claim reads) and its running and cancelling jobs on the reap
// index (filtered by pool, which the index projects), with COUNT queries:
// no item is read. Each count stops once it reaches upTo (<= 0: no bound).
func (s *Store) CountPoolJobs(ctx context.Context, pool string, upTo int) (fleet.Demand, error) {
	var d fleet.Demand
	var err error
	if d.Queued, err = s.countQueued(ctx, pool, upTo); err != nil {
		return d, err
	}
	inPool := expression.Name("pool").Equal(expression.Value(pool))
	active, err := keyQuery(s.top.Jobs.Name, IndexReap, expression.Key("active_shard").Equal(expression.Value(activeShard)), &inPool)
	if err != nil {
		return d, err
	}
	d.Running, err = s.count(ctx, active, upTo)
	return d, err
}

func (s *Store) count(ctx context.Context, in *dynamodb.QueryInput, upTo int) (int, error) {
	in.Select = types.SelectCount
	n := 0
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable("count", err)
		}
		n += int(page.Count)
		if page.LastEvaluatedKey == nil || (upTo > 0 && n >= upTo) {
			if upTo > 0 {
				n = min(n, upTo)
			}
			return n, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

type scalerRecordItem struct {
	Key        string `dynamodbav:"key"`
	Pool       string `dynamodbav:"pool"`
	LeaseUntil string `dynamodbav:"lease_until,omitempty"`
	Holder     string `dynamodbav:"holder,omitempty"`
	LastTick   string `dynamodbav:"last_tick,omitempty"`
	Desired    int    `dynamodbav:"desired"`
	Reason     string `dynamodbav:"reason,omitempty"`
	// Marks are JSON: a few hundred bytes per instance, read and written whole.
	Marks   string `dynamodbav:"marks,omitempty"`
	Version int64  `dynamodbav:"version"`
}

// GetScalerRecord returns pool's scaler record (Version 0 when none was written).
func (s *Store) GetScalerRecord(ctx context.Context, pool string) (*fleet.Record, error) {
	var it scalerRecordItem
	ok, err := s.get(ctx, s.top.Fleet.Name, map[string]types.AttributeValue{"key": str(poolKeyPrefix + pool)}, &it)
	if err != nil {
		return nil, err
	}
	r := &fleet.Record{Pool: pool, Marks: map[string]fleet.Mark{}}
	if !ok {
		return r, nil
	}
	r.Holder, r.Desired, r.Reason, r.Version = it.Holder, it.Desired, it.Reason, it.Version
	if r.LeaseUntil, err = parseTime(it.LeaseUntil); err != nil {
		return nil, farm.Internal(err)
	}
	if r.LastTick, err = parseTime(it.LastTick); err != nil {
		return nil, farm.Internal(err)
	}
	if it.Marks != "" {
		if err := json.Unmarshal([]byte(it.Marks), &r.Marks); err != nil {
			return nil, farm.Internal(err)
		}
	}
	return r, nil
}

// PutScalerRecord writes next conditionally on the stored record still
// being prev (its version; Version 0: none stored). A lost race is an
// EConflict wrapping store.ErrLostRace.
func (s *Store) PutScalerRecord(ctx context.Context, prev, next *fleet.Record) error {
	marks, err := json.Marshal(next.Marks)
	if err != nil {
		return farm.Internal(err)
	}
	it := scalerRecordItem{
		Key: poolKeyPrefix + next.Pool, Pool: next.Pool, LeaseUntil: fmtTime(next.LeaseUntil), Holder: next.Holder,
		LastTick: fmtTime(next.LastTick), Desired: next.Desired, Reason: next.Reason, Marks: string(marks), Version: next.Version,
	}
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return farm.Internal(err)
	}
	return s.putOne(ctx, put{table: s.top.Fleet.Name, item: item, cond: versioned(prev.Version != 0, prev.Version, "key")})
}

type instanceClaimItem struct {
	Key        string `dynamodbav:"key"`
	InstanceID string `dynamodbav:"instance_id"`
	NonceHash  string `dynamodbav:"nonce_hash"`
	Pool       string `dynamodbav:"pool"`
	FirstAt    string `dynamodbav:"first_at"`
	LastAt     string `dynamodbav:"last_at"`
	ExpiresAt  int64  `dynamodbav:"expires_at,omitempty"` // TTL, epoch seconds
	Version    int64  `dynamodbav:"version"`
}

// GetInstanceClaim returns an instance's identity claim, or ENotFound.
func (s *Store) GetInstanceClaim(ctx context.Context, id string) (*fleet.InstanceClaim, error) {
	var it instanceClaimItem
	ok, err := s.get(ctx, s.top.Fleet.Name, map[string]types.AttributeValue{"key": str(instanceKeyPrefix + id)}, &it)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, farm.Errorf(farm.ENotFound, "no identity claim for instance %s", id)
	}
	c := &fleet.InstanceClaim{InstanceID: it.InstanceID, NonceHash: it.NonceHash, Pool: it.Pool, Version: it.Version}
	if it.ExpiresAt > 0 {
		c.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	if c.FirstAt, err = parseTime(it.FirstAt); err != nil {
		return nil, farm.Internal(err)
	}
	if c.LastAt, err = parseTime(it.LastAt); err != nil {
		return nil, farm.Internal(err)
	}
	return c, nil
}

// PutInstanceClaim creates (prev nil: only if none is stored) or replaces
// (conditional on prev's version) an instance's identity claim.
func (s *Store) PutInstanceClaim(ctx context.Context, prev, next *fleet.InstanceClaim) error {
	it := instanceClaimItem{
		Key: instanceKeyPrefix + next.InstanceID, InstanceID: next.InstanceID, NonceHash: next.NonceHash, Pool: next.Pool,
		FirstAt: fmtTime(next.FirstAt), LastAt: fmtTime(next.LastAt), Version: next.Version,
	}
	if !next.ExpiresAt.IsZero() {
		it.ExpiresAt = next.ExpiresAt.Unix()
	}
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return farm.Internal(err)
	}
	var v int64
	if prev != nil {
		v = prev.Version
	}
	return s.putOne(ctx, put{table: s.top.Fleet.Name, item: item, cond: versioned(prev != nil, v, "key")})
}

// DeleteBuilder deletes a builder record if it is still prev (by version).
func (s *Store) DeleteBuilder(ctx context.Context, prev *farm.Builder) error {
	e, err := expression.NewBuilder().WithCondition(versionIs(prev.Version)).Build()
	if err != nil {
		return farm.Internal(err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.top.Builders.Name), Key: map[string]types.AttributeValue{"name": str(prev.Name)},
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return store.LostRace("builder %s changed since it was read", prev.Name)
	}
	if err != nil {
		return unavailable("delete", err)
	}
	return nil
}
