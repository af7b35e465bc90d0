package dynamostore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// logChunkRecord is one log chunk: the job's partition of the job-logs
// table, sorted by run and offset (zero-padded, so text order is log order).
type logChunkRecord struct {
	JobID     string `dynamodbav:"job_id"`
	Chunk     string `dynamodbav:"chunk"`
	Run       int    `dynamodbav:"run"`
	Offset    int64  `dynamodbav:"offset"`
	Text      string `dynamodbav:"text"`
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"`
}

func chunkKey(run int, offset int64) string { return fmt.Sprintf("%06d#%016d", run, offset) }

// runPrefix is the sort key prefix of one run's chunks.
func runPrefix(run int) string { return fmt.Sprintf("%06d#", run) }

// AppendLogChunk writes one chunk: an unconditional PutItem, so a
// heartbeat sent again rewrites its own chunk.
func (s *Store) AppendLogChunk(ctx context.Context, c farm.LogChunk) error {
	rec := logChunkRecord{JobID: c.JobID, Chunk: chunkKey(c.Run, c.Offset), Run: c.Run, Offset: c.Offset, Text: c.Text}
	if !c.ExpiresAt.IsZero() {
		rec.ExpiresAt = c.ExpiresAt.Unix()
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return farm.Internal(err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.top.JobLogs.Name), Item: item}); err != nil {
		return unavailable("put log chunk", err)
	}
	return nil
}

// LogChunks reads the last limit chunks of one run (a query of the job's
// partition, newest first, turned back into log order). Chunks past their
// TTL that DynamoDB has not deleted yet are skipped.
func (s *Store) LogChunks(ctx context.Context, id string, run, limit int) ([]farm.LogChunk, error) {
	key := expression.KeyAnd(expression.Key("job_id").Equal(expression.Value(id)), expression.Key("chunk").BeginsWith(runPrefix(run)))
	in, err := keyQuery(s.top.JobLogs.Name, "", key, nil)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(false)
	now := time.Now().Unix()
	recs, err := query(ctx, s, in, limit, func(item map[string]types.AttributeValue) (logChunkRecord, error) {
		var rec logChunkRecord
		err := attributevalue.UnmarshalMap(item, &rec)
		return rec, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]farm.LogChunk, 0, len(recs))
	for _, r := range slices.Backward(recs) {
		if r.ExpiresAt != 0 && r.ExpiresAt <= now {
			continue
		}
		c := farm.LogChunk{JobID: r.JobID, Run: r.Run, Offset: r.Offset, Text: r.Text}
		if r.ExpiresAt != 0 {
			c.ExpiresAt = time.Unix(r.ExpiresAt, 0).UTC()
		}
		out = append(out, c)
	}
	return out, nil
}
