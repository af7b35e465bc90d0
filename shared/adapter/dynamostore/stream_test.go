package dynamostore_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

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

// The Streams API's records (the local runtime's) become the Lambda's, and
// decode alike.
func TestLambdaRecordsFromStream(t *testing.T) {
	t.Parallel()
	s := func(v string) streamtypes.AttributeValue { return &streamtypes.AttributeValueMemberS{Value: v} }
	var records []streamtypes.Record
	for _, r := range loadStreamEvent(t).Records {
		rec := &streamtypes.StreamRecord{SequenceNumber: aws.String(r.Change.SequenceNumber), Keys: map[string]streamtypes.AttributeValue{}, OldImage: map[string]streamtypes.AttributeValue{}, NewImage: map[string]streamtypes.AttributeValue{}}
		for image, from := range map[*map[string]streamtypes.AttributeValue]map[string]events.DynamoDBAttributeValue{&rec.Keys: r.Change.Keys, &rec.OldImage: r.Change.OldImage, &rec.NewImage: r.Change.NewImage} {
			for k, v := range from {
				switch v.DataType() {
				case events.DataTypeString:
					(*image)[k] = s(v.String())
				case events.DataTypeNumber:
					(*image)[k] = &streamtypes.AttributeValueMemberN{Value: v.Number()}
				}
			}
		}
		records = append(records, streamtypes.Record{Dynamodb: rec})
	}
	records = append(records, streamtypes.Record{}) // no image at all: skipped
	lambda, err := dynamostore.LambdaRecordsFromStream(records)
	if err != nil {
		t.Fatal(err)
	}
	got := dynamostore.JobChangesFromRecords(lambda)
	want := dynamostore.JobChangesFromLambda(loadStreamEvent(t))
	if len(got) != len(want) {
		t.Fatalf("%d changes, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.JobID != w.JobID || g.OldStatus != w.OldStatus || g.NewStatus != w.NewStatus || g.Pool != w.Pool || g.Err != nil || w.Err != nil || g.Job.Version != w.Job.Version || g.Job.Status != w.Job.Status {
			t.Errorf("change %d = %+v, want %+v", i, g, w)
		}
	}
}

// A change's job is the job its new image holds, every field the store
// keeps (the dispatcher reads nothing back). The table streams new images
// only: the state left is not told, the end of a job is marked.
func TestJobChangesCarryTheJob(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	old := &farm.Job{ID: "01KAWZ6F0000000000000000S3", Type: farm.TypeScript, Status: farm.StatusRunning, Pool: "default", Payload: json.RawMessage(`{"script":"true","then":[{"type":"script","payload":{"script":"x"}}]}`),
		CreatedAt: at, QueuedAt: &at, StartedAt: &at, Attempts: 1, Run: 1, MaxAttempts: 3, TimeoutSeconds: 60, Builder: "b1", ClaimToken: "tok", Version: 3,
		DependsOn: []string{"01KAWZ6F0000000000000000Q1"}, DeclaresFollowOns: true, HasDependents: true,
		History: []farm.JobEvent{{JobID: "01KAWZ6F0000000000000000S3", Seq: farm.SeqFor(1), At: at, To: farm.StatusQueued, Actor: "submitter:a"}}}
	next := old.Clone()
	next.Status, next.Result, next.FinishedAt, next.Version = farm.StatusSucceeded, "succeeded", &at, 4
	next.DurationSeconds = farm.Duration(next.StartedAt, next.FinishedAt) // as every ending sets it
	rec, err := dynamostore.JobStreamRecord("9", old, next)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Change.OldImage != nil || !rec.Change.NewImage["just_ended"].Boolean() {
		t.Fatalf("record %+v: want a new image marked just_ended and no old image", rec.Change)
	}
	changes := dynamostore.JobChangesFromRecords([]events.DynamoDBEventRecord{rec})
	c := changes[0]
	if c.Err != nil || c.ID != "9" || c.JobID != next.ID || c.OldStatus != "" || c.NewStatus != farm.StatusSucceeded || c.Pool != "default" || !c.Relevant() {
		t.Fatalf("change %+v", c)
	}
	if !reflect.DeepEqual(c.Job, next) {
		t.Fatalf("image decodes to\n  %+v\nwant\n  %+v", c.Job, next)
	}
}
