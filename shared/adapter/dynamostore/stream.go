package dynamostore

import (
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The jobs table's stream (new and old images), decoded into the store's
// job changes: the dispatcher learns which job moved from which state to
// which without knowing an attribute name.

// Attributes of a job item the stream's readers need.
const (
	attrID     = "id"
	attrStatus = "status"
	attrPool   = "pool"
)

// QueuedJobsFilter is an event source mapping's filter on the jobs table's
// stream that passes only records of jobs that are queued (submissions,
// releases of waiting jobs, hand-backs and requeues), never heartbeats:
// the scaler's bursts.
const QueuedJobsFilter = `{"dynamodb":{"NewImage":{"` + attrStatus + `":{"S":["queued"]}}}}`

// JobChangesFromLambda reduces a Lambda event of the jobs table's stream to
// job changes, in order.
func JobChangesFromLambda(ev events.DynamoDBEvent) []store.JobChange {
	out := make([]store.JobChange, 0, len(ev.Records))
	for _, r := range ev.Records {
		out = append(out, store.JobChange{
			ID:        r.Change.SequenceNumber,
			JobID:     lambdaString(r.Change.Keys, attrID),
			OldStatus: farm.JobStatus(lambdaString(r.Change.OldImage, attrStatus)),
			NewStatus: farm.JobStatus(lambdaString(r.Change.NewImage, attrStatus)),
			Pool:      lambdaString(r.Change.NewImage, attrPool),
		})
	}
	return out
}

func lambdaString(image map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := image[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}

// JobChangesFromStream reduces records read from the jobs table's stream
// (the DynamoDB Streams API, as the local runtime reads it) to job changes,
// in order.
func JobChangesFromStream(records []streamtypes.Record) []store.JobChange {
	out := make([]store.JobChange, 0, len(records))
	for _, r := range records {
		if r.Dynamodb == nil {
			continue
		}
		out = append(out, store.JobChange{
			ID:        aws.ToString(r.Dynamodb.SequenceNumber),
			JobID:     streamString(r.Dynamodb.Keys, attrID),
			OldStatus: farm.JobStatus(streamString(r.Dynamodb.OldImage, attrStatus)),
			NewStatus: farm.JobStatus(streamString(r.Dynamodb.NewImage, attrStatus)),
			Pool:      streamString(r.Dynamodb.NewImage, attrPool),
		})
	}
	return out
}

func streamString(m map[string]streamtypes.AttributeValue, name string) string {
	if v, ok := m[name].(*streamtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
