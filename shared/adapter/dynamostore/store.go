// Package dynamostore is the DynamoDB Store. Every change is a conditional
// write: a single item goes through PutItem, several through one
// TransactWriteItems, each conditional on the version (and for jobs the
// status and claim token) the caller read. Expressions are built with the
// SDK's expression package; items are (un)marshalled with attributevalue.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is a store.Store on DynamoDB tables named by a topology.
type Store struct {
	db     API
	top    *topology.Topology
	shards store.DispatchShards // shards.go
}

var _ store.Store = (*Store)(nil)

// New returns a Store over the topology's tables. Its writes rely on
// DynamoDB's conditional writes being atomic per item; an emulator whose are
// not is given per-item locks by its client configuration (emulator.Config),
// never by the store.
func New(db API, top *topology.Topology) *Store {
	return &Store{db: db, top: top}
}

// put is one conditional item write.
type put struct {
	table string
	item  map[string]types.AttributeValue
	cond  *expression.ConditionBuilder
	// idempotency marks the idempotency record, whose failed condition means
	// "key taken" rather than "lost a race".
	idempotency bool
	// job is the job write this put makes, when it is one: a failed
	// condition is checked for the write itself already applied.
	job *store.JobWrite
}

// Commit writes the transaction's items all or nothing (one item: a
// conditional PutItem; more: one TransactWriteItems). A job's history
// events are part of its item.
func (s *Store) Commit(ctx context.Context, tx store.Tx) error {
	for _, w := range tx.Jobs {
		w.Next.Record(w.Event)
	}
	puts, err := s.puts(tx)
	if err != nil {
		return err
	}
	if len(puts) > store.MaxTxItems {
		return farm.Errorf(farm.EInvalid, "transaction of %d items is over the limit of %d", len(puts), store.MaxTxItems)
	}
	return s.commitState(ctx, puts)
}

func (s *Store) commitState(ctx context.Context, puts []put) error {
	switch len(puts) {
	case 0:
		return nil
	case 1:
		return s.putOne(ctx, puts[0])
	}
	items := make([]types.TransactWriteItem, len(puts))
	for i, p := range puts {
		in := &types.Put{TableName: aws.String(p.table), Item: p.item}
		if p.cond != nil {
			e, err := expression.NewBuilder().WithCondition(*p.cond).Build()
			if err != nil {
				return farm.Internal(err)
			}
			in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
		}
		items[i] = types.TransactWriteItem{Put: in}
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		return cancellation(canceled, puts)
	}
	if err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// cancellation turns a cancelled transaction into the scheduler's errors.
func cancellation(ex *types.TransactionCanceledException, puts []put) error {
	lost := false
	for i, r := range ex.CancellationReasons {
		code := aws.ToString(r.Code)
		switch code {
		case "", "None":
			continue
		case "ConditionalCheckFailed":
			if i < len(puts) && puts[i].idempotency {
				return &farm.Error{Code: farm.EConflict, Message: "idempotency key already used", Err: store.ErrIdempotencyKeyTaken}
			}
			lost = true
		case "TransactionConflict":
			lost = true
		default:
			return unavailable("commit", fmt.Errorf("transaction cancelled: %s: %s", code, aws.ToString(r.Message)))
		}
	}
	if lost || len(ex.CancellationReasons) == 0 {
		return store.LostRace("the item changed since it was read")
	}
	return unavailable("commit", ex)
}

func (s *Store) putOne(ctx context.Context, p put) error {
	in := &dynamodb.PutItemInput{TableName: aws.String(p.table), Item: p.item}
	if p.cond != nil {
		e, err := expression.NewBuilder().WithCondition(*p.cond).Build()
		if err != nil {
			return farm.Internal(err)
		}
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
	}
	if p.job != nil {
		// A failed condition answers with the item as stored, in the same
		// call: enough to recognise the write's own first attempt.
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	_, err := s.db.PutItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if p.idempotency {
			return &farm.Error{Code: farm.EConflict, Message: "idempotency key already used", Err: store.ErrIdempotencyKeyTaken}
		}
		if p.job != nil {
			return s.jobRaceLost(failed.Item, *p.job)
		}
		return store.LostRace("the item changed since it was read")
	}
	if err != nil {
		return unavailable("put", err)
	}
	return nil
}

// jobRaceLost decides a job write whose condition failed from item, the
// job as stored then (the same call's answer): nil when it already holds
// w (store.IsOwnWrite: a retry of a write whose answer was lost), else the
// lost race carrying the stored job, so the caller can decide again
// without reading it.
func (s *Store) jobRaceLost(item map[string]types.AttributeValue, w store.JobWrite) error {
	if item == nil {
		return store.LostRace("the item changed since it was read")
	}
	var rec jobRecord
	if attributevalue.UnmarshalMap(item, &rec) != nil {
		return store.LostRace("the item changed since it was read")
	}
	cur, err := rec.job()
	if err != nil {
		return store.LostRace("the item changed since it was read")
	}
	if store.IsOwnWrite(cur, w) {
		return nil
	}
	return store.LostJobRace(cur)
}

// unavailable wraps an unexpected DynamoDB failure: logged by the caller,
// shown to clients only as a generic error.
func unavailable(op string, err error) error {
	return &farm.Error{Code: farm.EUnavailable, Message: "the job store is unavailable; try again", Err: fmt.Errorf("dynamodb %s: %w", op, err)}
}

func absent(key string) *expression.ConditionBuilder {
	c := expression.AttributeNotExists(expression.Name(key))
	return &c
}

func versionIs(v int64) expression.ConditionBuilder {
	return expression.Name("version").Equal(expression.Value(v))
}

// jobCondition: the stored job is still prev (version, status and claim token).
func jobCondition(prev *farm.Job) *expression.ConditionBuilder {
	token := expression.AttributeNotExists(expression.Name("claim_token"))
	if prev.ClaimToken != "" {
		token = expression.Name("claim_token").Equal(expression.Value(prev.ClaimToken))
	}
	c := expression.And(versionIs(prev.Version), expression.Name("status").Equal(expression.Value(string(prev.Status))), token)
	return &c
}

func versioned(prev bool, v int64, key string) *expression.ConditionBuilder {
	if !prev {
		return absent(key)
	}
	c := versionIs(v)
	return &c
}

// puts turns a transaction into conditional item writes.
func (s *Store) puts(tx store.Tx) ([]put, error) {
	var out []put
	add := func(table string, rec any, cond *expression.ConditionBuilder, idem bool) error {
		item, err := attributevalue.MarshalMap(rec)
		if err != nil {
			return farm.Internal(err)
		}
		out = append(out, put{table: table, item: item, cond: cond, idempotency: idem})
		return nil
	}
	t := s.top
	for i, w := range tx.Jobs {
		cond := absent("id")
		if w.Prev != nil {
			cond = jobCondition(w.Prev)
		}
		next := w.Next.Clone()
		next.History = w.History()
		rec := s.jobRecord(next)
		rec.JustEnded = endsJob(w.Prev, w.Next)
		if err := add(t.Jobs.Name, rec, cond, false); err != nil {
			return nil, err
		}
		if tx.Size() == 1 {
			out[len(out)-1].job = &tx.Jobs[i]
		}
	}
	for _, w := range tx.Builders {
		prevVersion := int64(0)
		if w.Prev != nil {
			prevVersion = w.Prev.Version
		}
		if err := add(t.Builders.Name, toBuilderRecord(w.Next), versioned(w.Prev != nil, prevVersion, "name"), false); err != nil {
			return nil, err
		}
	}
	for _, w := range tx.Pools {
		prevVersion := int64(0)
		if w.Prev != nil {
			prevVersion = w.Prev.Version
		}
		if err := add(t.ResourcePools.Name, toPoolRecord(w.Next), versioned(w.Prev != nil, prevVersion, "name"), false); err != nil {
			return nil, err
		}
	}
	for _, w := range tx.Resources {
		prevVersion := int64(0)
		if w.Prev != nil {
			prevVersion = w.Prev.Version
		}
		if err := add(t.Resources.Name, toResourceRecord(w.Next), versioned(w.Prev != nil, prevVersion, "name"), false); err != nil {
			return nil, err
		}
	}
	for _, tok := range tx.Tokens {
		if err := add(t.Tokens.Name, toTokenRecord(tok), absent("token_hash"), false); err != nil {
			return nil, err
		}
	}
	for _, w := range tx.Tallies {
		prevVersion := int64(0)
		if w.Prev != nil {
			prevVersion = w.Prev.Version
		}
		if err := add(t.JobDependents.Name, toTallyRecord(w.Next), versioned(w.Prev != nil, prevVersion, "job_id"), false); err != nil {
			return nil, err
		}
	}
	for _, d := range tx.Dependents {
		if err := add(t.JobDependents.Name, toDependentRecord(d), nil, false); err != nil {
			return nil, err
		}
	}
	if w := tx.Idempotency; w != nil {
		// A key whose record expired (TTL deletion is lazy) may be used again.
		c := expression.Or(expression.AttributeNotExists(expression.Name("key")), expression.Name("expires_at").LessThanEqual(expression.Value(w.Next.CreatedAt.Unix())))
		if w.Prev != nil {
			c = expression.And(expression.Name("status").Equal(expression.Value(w.Prev.Status)), expression.Name("job_id").Equal(expression.Value(w.Prev.JobID)))
		}
		if err := add(t.Idempotency.Name, toIdempotencyRecord(w.Next), &c, w.Prev == nil); err != nil {
			return nil, err
		}
	}
	if w := tx.AuthGen; w != nil {
		if err := add(t.Tokens.Name, toAuthGenRecord(w.Next), authGenCondition(w), false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// get reads one item with a strongly consistent read into rec; found is false
// when there is none.
func (s *Store) get(ctx context.Context, table string, key map[string]types.AttributeValue, rec any) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, unavailable("get", err)
	}
	if out.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, rec); err != nil {
		return false, farm.Internal(err)
	}
	return true, nil
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// GetJob reads a job.
func (s *Store) GetJob(ctx context.Context, id string) (*farm.Job, error) {
	var rec jobRecord
	ok, err := s.get(ctx, s.top.Jobs.Name, map[string]types.AttributeValue{"id": str(id)}, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, farm.Errorf(farm.ENotFound, "job %s not found", id)
	}
	return rec.job()
}

// GetIdempotency reads a live idempotency record.
func (s *Store) GetIdempotency(ctx context.Context, key string, now time.Time) (*farm.Idempotency, error) {
	var rec idempotencyRecord
	ok, err := s.get(ctx, s.top.Idempotency.Name, map[string]types.AttributeValue{"key": str(key)}, &rec)
	if err != nil {
		return nil, err
	}
	if ok {
		i, err := rec.idempotency()
		if err != nil {
			return nil, farm.Internal(err)
		}
		if i.ExpiresAt.After(now) {
			return i, nil
		}
	}
	return nil, farm.Errorf(farm.ENotFound, "no idempotency record for %q", key)
}

// GetBuilder reads a builder.
func (s *Store) GetBuilder(ctx context.Context, name string) (*farm.Builder, error) {
	var rec builderRecord
	ok, err := s.get(ctx, s.top.Builders.Name, map[string]types.AttributeValue{"name": str(name)}, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, farm.Errorf(farm.ENotFound, "builder %s not found", name)
	}
	return rec.builder()
}

// GetToken reads a token by its hash.
func (s *Store) GetToken(ctx context.Context, hash string) (*farm.Token, error) {
	var rec tokenRecord
	ok, err := s.get(ctx, s.top.Tokens.Name, map[string]types.AttributeValue{"token_hash": str(hash)}, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, farm.Errorf(farm.ENotFound, "token not found")
	}
	return rec.token()
}

// ListTokens reads the token index, oldest first. The index is eventually
// consistent: a token issued a moment ago may be missing for that moment.
// Tokens are few (people, CI systems, builders): one partition of small
// entries, read in one or two Query pages, never a scan of the table.
func (s *Store) ListTokens(ctx context.Context) ([]*farm.Token, error) {
	in, err := keyQuery(s.top.Tokens.Name, IndexTokenID, expression.Key("token_shard").Equal(expression.Value(tokenShard)), nil)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(true)
	return query(ctx, s, in, 0, decodeToken)
}

func decodeToken(item map[string]types.AttributeValue) (*farm.Token, error) {
	var rec tokenRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return nil, err
	}
	return rec.token()
}

// DeleteToken finds the token's hash on the id index, then deletes the
// token (conditional on it still being there).
func (s *Store) DeleteToken(ctx context.Context, id string) (*farm.Token, error) {
	key := expression.KeyAnd(expression.Key("token_shard").Equal(expression.Value(tokenShard)), expression.Key("id").Equal(expression.Value(id)))
	in, err := keyQuery(s.top.Tokens.Name, IndexTokenID, key, nil)
	if err != nil {
		return nil, err
	}
	found, err := query(ctx, s, in, 1, decodeToken)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, farm.Errorf(farm.ENotFound, "token %s not found", id)
	}
	cond, err := expression.NewBuilder().WithCondition(expression.AttributeExists(expression.Name("token_hash"))).Build()
	if err != nil {
		return nil, farm.Internal(err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.top.Tokens.Name),
		Key:                       map[string]types.AttributeValue{"token_hash": str(found[0].Hash)},
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil, farm.Errorf(farm.ENotFound, "token %s not found", id)
	}
	if err != nil {
		return nil, unavailable("delete", err)
	}
	return found[0], nil
}

// GetDependentTally reads the count of a job's dependents.
func (s *Store) GetDependentTally(ctx context.Context, id string) (*store.DependentTally, error) {
	var rec tallyRecord
	ok, err := s.get(ctx, s.top.JobDependents.Name, map[string]types.AttributeValue{"job_id": str(id), "dependent_id": str(tallyKey)}, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &store.DependentTally{JobID: id}, nil
	}
	return rec.tally(), nil
}

// Dependents reads a job's dependency edges (a strongly consistent query
// of its partition of the dependents table, past its tally).
func (s *Store) Dependents(ctx context.Context, id string, limit int) ([]string, error) {
	key := expression.KeyAnd(expression.Key("job_id").Equal(expression.Value(id)), expression.Key("dependent_id").GreaterThan(expression.Value(tallyKey)))
	in, err := keyQuery(s.top.JobDependents.Name, "", key, nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	ids, err := query(ctx, s, in, limit, stringKey("dependent_id"))
	if ids == nil && err == nil {
		ids = []string{}
	}
	return ids, err
}

// GetResourcePool reads a resource pool.
func (s *Store) GetResourcePool(ctx context.Context, name string) (*farm.ResourcePool, error) {
	var rec poolRecord
	ok, err := s.get(ctx, s.top.ResourcePools.Name, map[string]types.AttributeValue{"name": str(name)}, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, farm.Errorf(farm.ENotFound, "resource pool %s not found", name)
	}
	return rec.pool()
}

// GetResource reads one resource.
func (s *Store) GetResource(ctx context.Context, pool, name string) (*farm.Resource, error) {
	var rec resourceRecord
	ok, err := s.get(ctx, s.top.Resources.Name, map[string]types.AttributeValue{"pool": str(pool), "name": str(name)}, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, farm.Errorf(farm.ENotFound, "resource %s not found in pool %s", name, pool)
	}
	return rec.resource()
}
