package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// The like-for-like floor does, with raw calls, what a correct farm must do
// per job and nothing more:
//
//	submit    PutItem of the job, conditional on its id being new, with the
//	          keys of a sparse dispatch index (present only while queued)
//	doorbell  SendMessage
//	receive   a long poll already waiting receives it (through a counting
//	          proxy, as the farm's agents reach SQS)
//	pick      Query of the dispatch index for the best queued jobs
//	claim     conditional UpdateItem queued -> running with a claim token,
//	          removing the index keys (the next candidate on a lost race)
//	delete    DeleteMessage
//	complete  UpdateItem running -> succeeded fenced by the claim token
//
// Seven calls for a job taken by an idle worker (a lost claim race adds a
// claim attempt; a doorbell whose job another worker took adds a receive, a
// query and a delete, as in the farm).
var likeForLikeCalls = []string{
	"DynamoDB.PutItem", "SQS.SendMessage", "SQS.ReceiveMessage", "DynamoDB.Query",
	"DynamoDB.UpdateItem", "SQS.DeleteMessage", "DynamoDB.UpdateItem",
}

// lflIndex is the like-for-like floor's sparse dispatch index.
const lflIndex = "by-pool-queue"

// lflPage is how many candidates one Query returns: concurrent workers
// that race for the first can fall back on the next ones.
const lflPage = 4

// lflRank orders the dispatch index: higher score first, then older (ids
// are ULIDs, which sort by time).
func lflRank(score int64, id string) string {
	return fmt.Sprintf("%020d#%s", uint64(math.MaxInt64-score), id)
}

func (f *floor) tableInput() *dynamodb.CreateTableInput {
	str := func(n string) ddbtypes.AttributeDefinition {
		return ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeTypeS}
	}
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(f.table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{str("id")},
	}
	if f.kind == floorLikeForLike {
		in.AttributeDefinitions = append(in.AttributeDefinitions, str("queue_pool"), str("queue_rank"))
		in.GlobalSecondaryIndexes = []ddbtypes.GlobalSecondaryIndex{{
			IndexName: aws.String(lflIndex),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String("queue_pool"), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String("queue_rank"), KeyType: ddbtypes.KeyTypeRange},
			},
			// As the farm's dispatch index: the claim needs the job, not only its key.
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}}
	}
	return in
}

// handleLikeForLike answers one doorbell: pick the best queued job from
// the index, claim it, delete the doorbell, complete the job.
func (f *floor) handleLikeForLike(ctx context.Context, worker string, receipt *string) {
	id, token, err := f.claimBest(ctx, worker)
	if err == nil && id != "" {
		f.claimedNow(id)
	}
	f.ack(ctx, f.workerSQS, receipt)
	if err != nil {
		f.fail(ctx)
		return
	}
	if id == "" {
		return // another worker took the job this doorbell rang for
	}
	done := expression.Set(expression.Name("status"), expression.Value("succeeded"))
	fence := expression.Name("claim_token").Equal(expression.Value(token)).And(expression.Name("status").Equal(expression.Value("running")))
	if err := f.update(ctx, id, done, fence); err != nil {
		f.fail(ctx)
		return
	}
	f.done <- time.Now()
}

// claimBest claims the best queued job: it queries the dispatch index and
// claims the first candidate still queued, querying again when others took
// them all; it returns "" when the index is empty (a doorbell whose job
// another worker took). So every doorbell claims a job while any is queued,
// and no job is left behind.
func (f *floor) claimBest(ctx context.Context, worker string) (id, token string, err error) {
	for {
		id, token, lost, err := f.claimFromPage(ctx, worker)
		if err != nil || !lost {
			return id, token, err
		}
	}
}

// claimFromPage is one Query and the claims of its candidates; lost says
// that every candidate was taken by another worker.
func (f *floor) claimFromPage(ctx context.Context, worker string) (id, token string, lost bool, err error) {
	key := expression.Key("queue_pool").Equal(expression.Value(farm.DefaultPool))
	e, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return "", "", false, err
	}
	out, err := f.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &f.table,
		IndexName:                 aws.String(lflIndex),
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ScanIndexForward:          aws.Bool(true),
		Limit:                     aws.Int32(lflPage),
	})
	if err != nil {
		return "", "", false, err
	}
	token = farm.NewSecret(8)
	claim := expression.Set(expression.Name("status"), expression.Value("running")).
		Set(expression.Name("claimed_by"), expression.Value(worker)).
		Set(expression.Name("claim_token"), expression.Value(token)).
		Remove(expression.Name("queue_pool")).
		Remove(expression.Name("queue_rank"))
	queued := expression.Name("status").Equal(expression.Value("queued"))
	for _, item := range out.Items {
		v, ok := item["id"].(*ddbtypes.AttributeValueMemberS)
		if !ok {
			continue
		}
		err := f.update(ctx, v.Value, claim, queued)
		var taken *ddbtypes.ConditionalCheckFailedException
		switch {
		case err == nil:
			return v.Value, token, false, nil
		case errors.As(err, &taken):
			continue // another worker claimed it between the query and now
		default:
			return "", "", false, err
		}
	}
	return "", "", len(out.Items) > 0, nil
}
