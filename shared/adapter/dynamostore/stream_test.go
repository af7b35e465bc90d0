package dynamostore_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func loadStreamEvent(t *testing.T) events.DynamoDBEvent {
	t.Helper()
	raw, err := os.ReadFile("../../../events/dynamodb-stream-jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestFromLambdaKeepsOnlyStateChanges(t *testing.T) {
	t.Parallel()
	changes := dynamostore.JobChangesFromLambda(loadStreamEvent(t))
	if len(changes) != 3 {
		t.Fatalf("%d changes", len(changes))
	}
	want := []struct {
		id       string
		relevant bool
		to       farm.JobStatus
	}{{"111", true, farm.StatusQueued}, {"222", false, farm.StatusRunning}, {"333", true, farm.StatusSucceeded}}
	for i, w := range want {
		c := changes[i]
		if c.ID != w.id || c.Relevant() != w.relevant || c.NewStatus != w.to || c.JobID == "" {
			t.Errorf("change %d = %+v, want id %s relevant %v to %s", i, c, w.id, w.relevant, w.to)
		}
	}
}

// The Streams API's records (the local runtime's) decode as the Lambda's do.
func TestJobChangesFromStream(t *testing.T) {
	t.Parallel()
	s := func(v string) streamtypes.AttributeValue { return &streamtypes.AttributeValueMemberS{Value: v} }
	var records []streamtypes.Record
	for _, r := range loadStreamEvent(t).Records {
		rec := &streamtypes.StreamRecord{SequenceNumber: aws.String(r.Change.SequenceNumber), Keys: map[string]streamtypes.AttributeValue{}, OldImage: map[string]streamtypes.AttributeValue{}, NewImage: map[string]streamtypes.AttributeValue{}}
		for image, from := range map[*map[string]streamtypes.AttributeValue]map[string]events.DynamoDBAttributeValue{&rec.Keys: r.Change.Keys, &rec.OldImage: r.Change.OldImage, &rec.NewImage: r.Change.NewImage} {
			for k, v := range from {
				if v.DataType() == events.DataTypeString {
					(*image)[k] = s(v.String())
				}
			}
		}
		records = append(records, streamtypes.Record{Dynamodb: rec})
	}
	records = append(records, streamtypes.Record{}) // no image at all: skipped
	got := dynamostore.JobChangesFromStream(records)
	want := dynamostore.JobChangesFromLambda(loadStreamEvent(t))
	if len(got) != len(want) {
		t.Fatalf("%d changes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
