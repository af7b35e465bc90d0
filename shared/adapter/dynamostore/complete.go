package dynamostore

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A completion patch (farm.CompletionPatch) is one UpdateItem of the job's
// item: conditional on the presumption, it sets the attributes the patch
// sets, appends the history event (and the run's artifacts) with
// list_append, and removes what the finished job's item does not keep —
// its lease and its place on the reap index. The item it leaves is the one
// a PutItem of Job.Complete's image leaves (the stream's new image, which
// the dispatcher works from, is the same): the attribute values are taken
// from that very record (toJobRecord), never encoded twice.

// patchedAttrs are the job item attributes a completion patch writes:
// each is set to the finished job's value, or removed where it has none.
var patchedAttrs = []string{"status", "version", "finished_at", "result", "error", "exit_code",
	"log_key", "log_inline", "log_complete", "expires_at"}

// unkeptAttrs are what an active job's item has and a finished job's has
// not: its lease and its reap index entry.
var unkeptAttrs = []string{"lease_expires_at", "reap_at", "active_shard"}

// CompleteJob applies completion patch p in one conditional UpdateItem
// (see store.Store). A failed condition answers with the item as stored
// (ALL_OLD) in the same call: the patch's own earlier write, or the job to
// decide from.
func (s *Store) CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error) {
	in, err := s.completionUpdate(p)
	if err != nil {
		return nil, err
	}
	out, err := s.db.UpdateItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if failed.Item == nil {
			return nil, farm.Errorf(farm.ENotFound, "job %s not found", p.ID)
		}
		cur, err := decodeJob(failed.Item)
		if err != nil {
			return nil, store.LostRace("the job changed since it was read")
		}
		if store.IsOwnCompletion(cur, p) {
			return cur, nil
		}
		return nil, store.LostJobRace(cur)
	}
	if err != nil {
		return nil, unavailable("update", err)
	}
	job, err := decodeJob(out.Attributes)
	if err != nil {
		return nil, farm.Internal(err)
	}
	return job, nil
}

// completionUpdate is the UpdateItem of patch p.
func (s *Store) completionUpdate(p *farm.CompletionPatch) (*dynamodb.UpdateItemInput, error) {
	finished := &farm.Job{ID: p.ID, Status: p.Status, Version: p.Version, FinishedAt: farm.TimePtr(p.FinishedAt),
		Result: p.Result, Error: p.Error, ExitCode: p.ExitCode, LogKey: p.LogKey, LogInline: p.LogInline,
		LogComplete: p.LogComplete, ExpiresAt: p.ExpiresAt, Artifacts: p.Artifacts}
	finished.Record(&p.Event)
	item, err := attributevalue.MarshalMap(toJobRecord(finished))
	if err != nil {
		return nil, farm.Internal(err)
	}
	var up expression.UpdateBuilder
	for _, attr := range patchedAttrs {
		if v, ok := item[attr]; ok {
			up = up.Set(expression.Name(attr), expression.Value(v))
		} else {
			up = up.Remove(expression.Name(attr))
		}
	}
	for _, attr := range unkeptAttrs {
		up = up.Remove(expression.Name(attr))
	}
	// A patch always ends a running job (endsJob).
	up = up.Set(expression.Name(attrJustEnded), expression.Value(true))
	// if_not_exists: an item written before histories were kept in the
	// job's item has none (list_append of a missing list is an error).
	up = up.Set(expression.Name("history"), expression.ListAppend(orEmptyList("history"), expression.Value(item["history"])))
	cond := expression.And(
		expression.Name("claim_token").Equal(expression.Value(p.Presumed.ClaimToken)),
		expression.Name("status").Equal(expression.Value(string(farm.StatusRunning))),
		versionIs(p.Presumed.Version),
		expression.Name("run").Equal(expression.Value(p.Presumed.Run)),
		expression.Name("builder").Equal(expression.Value(p.Builder)),
	)
	if n := len(p.Artifacts); n > 0 {
		up = up.Set(expression.Name("artifacts"), expression.ListAppend(orEmptyList("artifacts"), expression.Value(item["artifacts"])))
		// Room for them: beyond MaxKeptArtifacts Job.Complete drops the
		// oldest, which needs the item (the caller's fallback).
		cond = cond.And(expression.Or(expression.AttributeNotExists(expression.Name("artifacts")),
			expression.Name("artifacts").Size().LessThanEqual(expression.Value(farm.MaxKeptArtifacts-n))))
	}
	e, err := expression.NewBuilder().WithUpdate(up).WithCondition(cond).Build()
	if err != nil {
		return nil, farm.Internal(err)
	}
	return &dynamodb.UpdateItemInput{
		TableName: aws.String(s.top.Jobs.Name), Key: map[string]types.AttributeValue{"id": str(p.ID)},
		UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, nil
}

// orEmptyList is the list attribute name, or an empty list where the item
// has none: what list_append may append to.
func orEmptyList(name string) expression.SetValueBuilder {
	return expression.IfNotExists(expression.Name(name), expression.Value(&types.AttributeValueMemberL{Value: []types.AttributeValue{}}))
}
