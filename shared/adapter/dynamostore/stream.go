package dynamostore

import (
	"github.com/aws/aws-lambda-go/events"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The jobs table's stream (new images: the filter tells an ended job by
// its just_ended mark), decoded into the store's job changes: the
// dispatcher learns the job as the change left it, without knowing an
// attribute name or reading the job back. A record that carries an old
// image too (a stream of old and new images) says the state it left.

// Attributes of a job item the stream's readers and filters name.
const (
	attrID     = "id"
	attrStatus = "status"
	attrPool   = "pool"
)

// JobChangesFromLambda reduces a Lambda event of the jobs table's stream to
// job changes, in order, each with the job its new image holds.
func JobChangesFromLambda(ev events.DynamoDBEvent) []store.JobChange {
	return JobChangesFromRecords(ev.Records)
}

// JobChangesFromRecords is JobChangesFromLambda of the records alone (the
// local runtime's, after LambdaRecordsFromStream and the filter).
func JobChangesFromRecords(records []events.DynamoDBEventRecord) []store.JobChange {
	out := make([]store.JobChange, 0, len(records))
	for _, r := range records {
		c := store.JobChange{
			ID:        r.Change.SequenceNumber,
			JobID:     lambdaString(r.Change.Keys, attrID),
			OldStatus: farm.JobStatus(lambdaString(r.Change.OldImage, attrStatus)),
			NewStatus: farm.JobStatus(lambdaString(r.Change.NewImage, attrStatus)),
			Pool:      lambdaString(r.Change.NewImage, attrPool),
		}
		if len(r.Change.NewImage) > 0 {
			c.Job, c.Err = jobFromImage(r.Change.NewImage)
		}
		out = append(out, c)
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
